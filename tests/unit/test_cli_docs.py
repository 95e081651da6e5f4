"""The README and docs/cli.md say what `seedance --help` says: the same commands, and only flags that
exist; and the packaging installs what the client imports."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seedance_cli.commands import app
from seedance_cli.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CLI_DOC = (ROOT / "docs" / "cli.md").read_text()
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z-]*)")
#: Options every command takes, documented once under "Connecting" and "Output".
SHARED = {"--api", "--token", "--profile", "--json", "--no-json", "--help"}


def help_text(*command: str) -> str:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def commands_in_help() -> list[str]:
    text = help_text()
    listing = text[text.index("Commands:") :].splitlines()[1:]
    return [match.group(1) for line in listing if (match := re.match(r"^  (\S+)\s", line))]


def flags_in_help(command: str) -> set[str]:
    return set(FLAG.findall(help_text(command)))


def readme_cli_lines() -> list[list[str]]:
    """Every `seedance …` line in README's code blocks, as words (comments left off)."""
    lines = []
    for block in FENCE.findall(README):
        for line in block.splitlines():
            if line.startswith("seedance "):
                lines.append(line.split("#", 1)[0].split())
    return lines


def section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    level = heading.split(" ", 1)[0]
    found = re.search(rf"\n#{{1,{len(level)}}} ", text[start + len(heading) + 1 :])
    return text[start : start + len(heading) + 1 + found.start() if found else len(text)]


def test_readme_names_exactly_the_commands_of_seedance_help() -> None:
    sentence = re.search(r"`seedance --help` lists its commands \(([^)]*)\)", README)
    assert sentence, "README says which commands `seedance --help` lists"
    named = re.findall(r"`([a-z-]+)`", sentence.group(1))

    assert sorted(named) == sorted(commands_in_help())
    assert len(readme_cli_lines()) >= 2


def test_readme_shows_only_commands_and_flags_that_exist() -> None:
    commands = commands_in_help()
    for words in readme_cli_lines():
        command = words[1]
        assert command in commands, words
        assert set(FLAG.findall(" ".join(words))) <= flags_in_help(command), words


def test_docs_have_a_section_for_every_command_and_no_other() -> None:
    documented = re.findall(r"^### `seedance ([a-z-]+)`$", CLI_DOC, re.MULTILINE)

    assert documented == commands_in_help()


@pytest.mark.parametrize("command", commands_in_help())
def test_each_command_section_names_every_flag_it_has_and_no_other(command: str) -> None:
    text = section(CLI_DOC, f"### `seedance {command}`")
    in_help = flags_in_help(command)

    assert in_help - SHARED <= set(FLAG.findall(text)), command
    assert set(FLAG.findall(text)) <= in_help, command


def test_the_shared_options_are_documented_once() -> None:
    documented = set(FLAG.findall(section(CLI_DOC, "## Connecting") + section(CLI_DOC, "## Output")))

    assert documented >= SHARED - {"--help"}
    for command in commands_in_help():
        assert flags_in_help(command) >= SHARED, command


def test_the_exit_codes_table_is_the_clients() -> None:
    table = section(CLI_DOC, "## Exit codes")

    assert re.findall(r"^\| `(\d+)` \|", table, re.MULTILINE) == [str(code.value) for code in ExitCode]


def test_the_wheel_is_the_client_alone_and_make_install_pins_its_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pinned = {
        line.split("==")[0].split("[")[0].strip().lower()
        for name in ("requirements-dev.txt", "layers/videojobs/requirements.txt")
        for line in (ROOT / name).read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    pinned.add("botocore")  # comes with boto3, pinned there

    assert project["project"]["scripts"] == {"seedance": "seedance_cli.commands:main"}
    assert project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["cli/seedance_cli"]
    dependencies = {re.split(r"[<>=\[ ]", spec)[0].lower() for spec in project["project"]["dependencies"]}
    assert dependencies == {"typer", "rich", "httpx", "botocore"}
    assert dependencies <= pinned


def test_the_client_imports_nothing_of_the_pipeline() -> None:
    sources = "\n".join(path.read_text() for path in (ROOT / "cli" / "seedance_cli").glob("*.py"))

    assert not re.findall(r"^\s*(?:from|import) (?:videojobs|local|tests|functions)\b", sources, re.MULTILINE)
