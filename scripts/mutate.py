"""`make mutate`: mutmut over the modules where a defect costs money or lets someone in, with the fast tests.

Prints one row per module (mutants, killed, survived, timeouts, killed %, the survivors by kind) and
every mutant that no test told apart from the code (module, line, kind, the line before and after), and
writes the same to .tools/mutate-run/report.md. Asserts nothing. A survivor's kind is "message" when
only the text of a raised error changed, "log" inside a logger call, else "code": the ones to read.

mutmut names a mutant after its file's path, and the tests import the layer as ``videojobs`` from
``layers/videojobs``: a run from the repository would name ``layers.videojobs.videojobs.security`` what
the tests load as ``videojobs.security`` and find no test for anything. So the run happens in a folder
of its own, ``.tools/mutate-run``, whose root links ``videojobs`` to the layer package and the rest to
the repository; mutmut copies it into ``mutants/`` there and never writes to the layer itself.

Tests are chosen per mutant by mutmut: one run of the selection below records which tests reach which
function, and a mutant is tried against those tests alone. ``--module NAME`` (repeatable) runs some
modules only, for working on one.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "videojobs" / "videojobs"
RUN_DIR = ROOT / ".tools" / "mutate-run"
MUTMUT = Path(sys.executable).parent / "mutmut"

#: The fast tests. test_dispatch_adapters.py is the one integration file: DynamoDBCapacity's only
#: tests are there, against a moto server in the test process (a few seconds).
TESTS = ["tests/unit", "tests/functional", "tests/integration/test_dispatch_adapters.py"]
#: What the tests read besides themselves, linked into the run folder and copied by mutmut.
ALSO_COPY = ["local", "functions", "events", "schemas", "docs", "template.yaml", "README.md", "layers"]

#: Each forked test run starts its own moto server, but moto keeps its accounts in module globals that
#: a fork inherits: a session that starts from a clean moto can create the template's tables again.
RUN_CONFTEST = '''"""Written by scripts/mutate.py: every test session starts from an empty moto."""


def pytest_sessionstart(session):
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
'''


@dataclass(frozen=True)
class Target:
    """One row of the table: a module of the layer, whole or some of its functions."""

    path: str  # under layers/videojobs/videojobs
    functions: tuple[str, ...] = ()  # "name" or "Class.method"; none: every function in the module
    note: str = ""

    @property
    def module(self) -> str:
        return "videojobs." + self.path.removesuffix(".py").replace("/", ".").removesuffix(".__init__")

    @property
    def label(self) -> str:
        return f"{self.path} ({self.note})" if self.note else self.path

    @property
    def patterns(self) -> list[str]:
        """mutmut's mutant names for this target, as globs (a literal prefix, so no other module's)."""
        if not self.functions:
            return [f"{self.module}.x_*", f"{self.module}.xǁ*"]
        return [f"{self.module}.{_mangled(name)}__mutmut_*" for name in self.functions]

    def owns(self, key: str) -> bool:
        module, _, name = key.rpartition(".")
        if module != self.module:
            return False
        function = name.rpartition("__mutmut_")[0]
        return not self.functions or function in {_mangled(f) for f in self.functions}


def _mangled(function: str) -> str:
    cls, _, name = function.rpartition(".")
    return f"xǁ{cls}ǁ{name}" if cls else f"x_{name}"


def _webhook(provider: str, *functions: str) -> Target:
    return Target(f"providers/{provider}/adapter.py", functions, "webhook")


def _price(provider: str) -> Target:
    return Target(f"providers/{provider}/__init__.py", ("estimate_cost_usd",), "price")


TARGETS = [
    Target("security.py"),
    Target("standard_webhooks.py"),
    Target("download_policy.py"),
    Target("adapters/pinned_http.py"),
    Target("adapters/http_source.py"),
    Target("adapters/capacity.py"),
    Target("logic/callback.py"),
    Target("logic/dispatch.py"),
    Target("logic/outcomes.py"),
    Target("logic/failover.py"),
    Target("catalog/routing.py"),
    Target("mp4.py"),
    Target("png.py"),
    Target("logic/output_checks.py"),
    Target("logic/transfer.py"),
    Target("providers/_jwks.py"),
    _webhook(
        "atlascloud",
        "AtlasCloudProvider.parse_webhook",
        "AtlasCloudProvider._verify_signature",
        "_envelope_update",
        "_is_envelope",
        "_validated",
    ),
    _webhook("byteplus", "BytePlusProvider.parse_webhook"),
    _webhook("eachlabs", "EachLabsProvider.parse_webhook", "EachLabsProvider._verify_signature"),
    _webhook(
        "fal",
        "FalProvider.parse_webhook",
        "FalProvider._verify_signature",
        "_verifies",
        "_webhook_update",
    ),
    _webhook("gateway", "GatewayProvider.parse_webhook"),
    _webhook("jobs_api", "JobsApiProvider.parse_webhook", "_callback_job", "_id_in"),
    _webhook(
        "replicate",
        "ReplicateProvider.parse_webhook",
        "ReplicateProvider._verify",
        "ReplicateProvider._matches_a_refreshed_secret",
        "_AccountSecret.current",
        "_AccountSecret.refreshed",
        "_AccountSecret._fetch",
    ),
    Target("pricing.py"),
    _price("atlascloud"),
    _price("byteplus"),
    _price("eachlabs"),
    _price("fal"),
]

KILLED = {"killed", "caught by type check"}
TIMEOUT = "timeout"
NOT_REACHED = "no tests"


@dataclass
class Survivor:
    key: str
    status: str
    line: int
    before: str
    after: str
    kind: str


@dataclass
class Row:
    target: Target
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[Survivor] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def killed(self) -> int:
        return sum(n for status, n in self.counts.items() if status in KILLED)

    @property
    def rate(self) -> float:
        # A timeout is a mutant the tests noticed (it hung or slowed them past mutmut's limit).
        return 100.0 * (self.killed + self.counts[TIMEOUT]) / self.total if self.total else 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--module", action="append", default=[], help="a path in the table, e.g. security.py")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tried at once (default 2)")
    args = parser.parse_args()
    targets = [t for t in TARGETS if not args.module or t.path in args.module or t.label in args.module]
    if not targets:
        parser.error(f"no module {args.module}; one of: {', '.join(t.path for t in TARGETS)}")

    os.nice(10)
    started = time.monotonic()
    stage(targets)
    log = RUN_DIR / "mutmut.log"
    print(f"mutmut over {len(targets)} modules with {', '.join(TESTS)}; its output: {log.relative_to(ROOT)}")
    patterns = [pattern for target in targets for pattern in target.patterns]
    with log.open("w") as out:
        run = _mutmut(["run", "--max-children", str(args.jobs), *patterns], stdout=out)
    if run.returncode != 0:
        print(log.read_text()[-4000:])
        print(f"mutmut run failed (exit {run.returncode})")
        return 1

    rows = collect(targets)
    report = render(rows, time.monotonic() - started)
    (RUN_DIR / "report.md").write_text(report)
    print(report)
    return 0


def stage(targets: list[Target]) -> None:
    """The run folder: ``videojobs`` and the repository's other folders linked, and a pyproject of its
    own (mutmut's settings; pytest's from the repository's, with the layer now at the root)."""
    if RUN_DIR.exists():
        shutil.rmtree(RUN_DIR)
    RUN_DIR.mkdir(parents=True)
    (RUN_DIR / "videojobs").symlink_to(LAYER)
    for name in ["tests", *ALSO_COPY]:
        (RUN_DIR / name).symlink_to(ROOT / name)
    (RUN_DIR / "conftest.py").write_text(RUN_CONFTEST)

    pytest_options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    pytest_options = {**pytest_options, "pythonpath": ["."]}
    mutmut_options = {
        "source_paths": ["videojobs"],
        "only_mutate": sorted({f"videojobs/{t.path}" for t in targets}),
        "pytest_add_cli_args_test_selection": TESTS,
        # The seedance client's tests reach none of the layer, and read the repository's own files.
        "pytest_add_cli_args": ["--ignore-glob=tests/unit/test_cli_*.py"],
        "also_copy": ["conftest.py", *ALSO_COPY],
    }
    (RUN_DIR / "pyproject.toml").write_text(
        _toml_table("tool.mutmut", mutmut_options)
        + "\n"
        + _toml_table("tool.pytest.ini_options", pytest_options)
    )


def _toml_table(name: str, values: dict[str, object]) -> str:
    # Strings and lists of strings only: JSON writes them as TOML reads them.
    return f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())


def _mutmut(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    # The Makefile's PYTHONPATH points at the layer itself: the tests must load mutmut's copy.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(  # noqa: S603 - our own tool venv's mutmut, arguments from this script
        [str(MUTMUT), *args], cwd=RUN_DIR, env=env, text=True, check=False, **kwargs
    )


def collect(targets: list[Target]) -> list[Row]:
    listed = _mutmut(["results", "--all", "true"], capture_output=True)
    rows = [Row(target) for target in targets]
    for line in listed.stdout.splitlines():
        key, _, status = line.strip().rpartition(": ")
        row = next((row for row in rows if row.target.owns(key)), None)
        if row is None:
            continue  # a mutant of a function no target names: generated, never tried
        row.counts[status] += 1
        if status not in KILLED and status != TIMEOUT:
            row.survivors.append(_survivor(row.target, key, status))
    return rows


def _survivor(target: Target, key: str, status: str) -> Survivor:
    """Where the mutant is in the layer's file and what kind it is, from mutmut's diff of the function."""
    diff = _diff(f"videojobs/{target.path}", key).splitlines()
    hunk = next((i for i, line in enumerate(diff) if line.startswith("@@")), len(diff))
    first = int(diff[hunk].split()[1].lstrip("-").split(",")[0]) if hunk < len(diff) else 1
    removed: list[tuple[int, str]] = []
    added: list[str] = []
    offset = first - 1  # lines into the function, counting from its first line
    for line in diff[hunk + 1 :]:
        if line.startswith("+"):
            added.append(line[1:].strip())
            continue
        if line.startswith("-"):
            removed.append((offset, line[1:].strip()))
        offset += 1
    source = Source.of(target.path)
    line = source.line_of(key, removed[0][0] if removed else 0, removed[0][1] if removed else "")
    before = " ".join(text for _, text in removed)
    after = " ".join(added)
    return Survivor(key, status, line, before, after, source.kind(line, before, after))


def _diff(path: str, key: str) -> str:
    """``mutmut show KEY``, in this process: one mutmut process per mutant takes seconds each."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    cwd = Path.cwd()
    os.chdir(RUN_DIR)  # mutmut reads its settings and mutants/ from the working directory
    try:
        return str(get_diff_for_mutant(key, path=path))
    finally:
        os.chdir(cwd)


class Source:
    """A layer module's text and syntax tree, read once."""

    _read: dict[str, Source] = {}

    def __init__(self, path: str) -> None:
        self.text = (LAYER / path).read_text()
        self.lines = self.text.splitlines()
        self.tree = ast.parse(self.text)
        self.log_calls = [
            (node.lineno, node.end_lineno or node.lineno)
            for node in ast.walk(self.tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "logger"
        ]
        self.raises = [
            (node.lineno, node.end_lineno or node.lineno)
            for node in ast.walk(self.tree)
            if isinstance(node, ast.Raise)
        ]

    @classmethod
    def of(cls, path: str) -> Source:
        if path not in cls._read:
            cls._read[path] = cls(path)
        return cls._read[path]

    def line_of(self, key: str, offset: int, text: str) -> int:
        """The file line of the function's line ``offset`` (0 for its first), checked against ``text``:
        mutmut's copy of a function may start at a comment above it, so the nearest equal line wins."""
        name = key.rpartition(".")[2].rpartition("__mutmut_")[0]
        cls, _, function = name.removeprefix("x_").removeprefix("xǁ").rpartition("ǁ")
        scope = self.tree.body
        if cls:
            scope = next(
                (n.body for n in self.tree.body if isinstance(n, ast.ClassDef) and n.name == cls), []
            )
        node = next((n for n in scope if isinstance(n, ast.FunctionDef) and n.name == function), None)
        if node is None:
            return 0
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        span = range(first, (node.end_lineno or node.lineno) + 1)
        equal = [number for number in span if self.lines[number - 1].strip() == text]
        return min(equal, key=lambda number: abs(number - (first + offset)), default=first + offset)

    def kind(self, line: int, before: str, after: str) -> str:
        """'log' inside a logger call; 'message' when only the text of a raised error changed; else 'code'."""
        if any(start <= line <= end for start, end in self.log_calls):
            return "log"
        if any(start <= line <= end for start, end in self.raises) and _without_text(before) == _without_text(
            after
        ):
            return "message"
        return "code"


_STRING = re.compile(r"""[rbf]*("[^"]*"|'[^']*')|\bNone\b""")


def _without_text(code: str) -> str:
    return _STRING.sub("S", code).replace("()", "(S)")


def render(rows: list[Row], seconds: float) -> str:
    """The table (survived and not reached split by kind: code, message, log) and every survivor."""
    total = Row(Target("total"))
    for row in rows:
        total.counts.update(row.counts)
        total.survivors += row.survivors
    minutes, rest = divmod(round(seconds), 60)
    out = [
        f"make mutate: {total.total} mutants in {minutes} min {rest:02d} s",
        "",
        "| module | mutants | killed | survived | timeouts | killed % | survivors: code / message / log |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in [*rows, total]:
        name = f"**{row.target.label}**" if row is total else f"`{row.target.label}`"
        kinds = Counter(survivor.kind for survivor in row.survivors)
        out.append(
            f"| {name} | {row.total} | {row.killed} | {len(row.survivors)} | {row.counts[TIMEOUT]} "
            f"| {row.rate:.1f} | {kinds['code']} / {kinds['message']} / {kinds['log']} |"
        )
    out += [
        "",
        f"Survivors ({len(total.survivors)}), module:line [kind]  before  →  after;"
        " 'not reached': no test calls the function",
    ]
    for row in rows:
        for survivor in row.survivors:
            status = "" if survivor.status == "survived" else f"  ({survivor.status})"
            out.append(
                f"  {row.target.path}:{survivor.line} [{survivor.kind}]  {survivor.before}"
                f"  →  {survivor.after}{status}"
            )
    out.append("")
    out.append(f"Each one: mutmut show NAME, in {RUN_DIR.relative_to(ROOT)}; the names: survivors.txt there")
    (RUN_DIR / "survivors.txt").write_text("".join(f"{s.key}\n" for s in total.survivors))
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
