"""The README and the manual in docs/ say what the code says: tables held to the code, links that land."""

import re
from pathlib import Path

import pytest

from videojobs.catalog.capabilities import markdown_table
from videojobs.providers import UNITS
from videojobs.settings import setting_names

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MARKDOWN = [README, *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def _section(text: str, heading: str) -> str:
    """From ``heading`` to the next heading of the same level."""
    start = text.index(f"\n{heading}\n")
    level = heading.split(" ", 1)[0]
    end = text.find(f"\n{level} ", start + len(heading) + 1)
    return text[start : end if end != -1 else len(text)]


def _prose(text: str) -> str:
    """The text without fenced blocks and with code spans blanked, so only real links and headings remain."""
    return CODE_SPAN.sub("code", FENCE.sub("", text))


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation other than - and _ removed,
    spaces to hyphens, and -1, -2 … after a repeat."""
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchor, repeat = slug, 0
        while anchor in anchors:
            repeat += 1
            anchor = f"{slug}-{repeat}"
        anchors.add(anchor)
    return anchors


def test_the_capability_table_in_the_providers_page_is_the_code_table() -> None:
    text = (DOCS / "providers.md").read_text()
    start = text.index("<!-- capabilities:start -->") + len("<!-- capabilities:start -->")
    end = text.index("<!-- capabilities:end -->")

    assert text[start:end].strip() == markdown_table()


def test_every_setting_is_in_the_configuration_table() -> None:
    section = _section((DOCS / "configuration.md").read_text(), "## Configuration")

    missing = [name.upper() for name in setting_names() if name.upper() not in section]

    assert missing == []


def test_the_readme_provider_table_is_what_each_unit_says() -> None:
    section = _section(README.read_text(), "## Providers")
    rows = {
        cells[0].strip("`"): cells[1:]
        for line in section.splitlines()
        if line.startswith("| `")
        for cells in [[cell.strip() for cell in line.strip("|").split("|")]]
    }

    assert list(rows) == list(UNITS)
    for name, unit in UNITS.items():
        callbacks, limits, priced = rows[name]
        key_limits = unit.read_settings({}).key_limits()
        assert callbacks.startswith(unit.capabilities.callbacks.value), name
        assert limits == f"{key_limits.max_concurrent} / {key_limits.max_creates_per_minute}", name
        assert priced == ("yes" if unit.estimate_cost_usd is not None else "no"), name


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_lands_on_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in LINK.findall(_prose(page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: …
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / path_part).resolve() if path_part else page
        lands = destination.exists() and not (
            anchor and destination.suffix == ".md" and anchor not in _anchors(destination)
        )
        if not lands:
            broken.append(target)

    assert broken == []
