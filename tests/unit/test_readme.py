from pathlib import Path

from videojobs.catalog.capabilities import markdown_table
from videojobs.settings import setting_names

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_capability_table_is_the_code_table() -> None:
    text = README.read_text()
    start = text.index("<!-- capabilities:start -->") + len("<!-- capabilities:start -->")
    end = text.index("<!-- capabilities:end -->")

    assert text[start:end].strip() == markdown_table()


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    text = README.read_text()
    section = text[text.index("## Configuration") : text.index("## Deploy")]

    missing = [name.upper() for name in setting_names() if name.upper() not in section]

    assert missing == []
