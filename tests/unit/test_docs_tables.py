"""The manual in docs/ says what the code says: its tables held to the code."""

from pathlib import Path

from videojobs.catalog.capabilities import markdown_table
from videojobs.settings import setting_names

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _section(text: str, heading: str) -> str:
    """From ``heading`` to the next heading of the same level."""
    start = text.index(f"\n{heading}\n")
    level = heading.split(" ", 1)[0]
    end = text.find(f"\n{level} ", start + len(heading) + 1)
    return text[start : end if end != -1 else len(text)]


def test_the_capability_table_in_the_providers_page_is_the_code_table() -> None:
    text = (DOCS / "providers.md").read_text()
    start = text.index("<!-- capabilities:start -->") + len("<!-- capabilities:start -->")
    end = text.index("<!-- capabilities:end -->")

    assert text[start:end].strip() == markdown_table()


def test_every_setting_is_in_the_configuration_table() -> None:
    section = _section((DOCS / "configuration.md").read_text(), "## Configuration")

    missing = [name.upper() for name in setting_names() if name.upper() not in section]

    assert missing == []
