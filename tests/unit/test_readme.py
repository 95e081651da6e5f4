from pathlib import Path

from videojobs.capabilities import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_capability_table_is_the_code_table() -> None:
    text = README.read_text()
    start = text.index("<!-- capabilities:start -->") + len("<!-- capabilities:start -->")
    end = text.index("<!-- capabilities:end -->")

    assert text[start:end].strip() == markdown_table()
