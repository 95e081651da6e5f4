"""Cold import of each handler beside ``import boto3`` and beside the third-party floor, in the same run.

Every sample is a fresh interpreter that times its own import statement (interpreter start-up is left
out, the same for all). A handler is imported as Lambda imports it: from its folder, with only that
folder and the layer on the path, and the template's default environment (``Tracing=Lambda``, so
``POWERTOOLS_TRACE_DISABLED=true``). The baselines are ``import boto3`` and the floor, ``import boto3,
pydantic, httpx, aws_lambda_powertools``: what any handler of this stack pays before its own code.
The targets take turns, run after run, so a busy machine slows them alike; each figure is the median.
One more row imports the transfer handler with ``Tracing=Detailed`` (the X-Ray SDK loaded).

Ports are built when a function first uses them (``videojobs.bootstrap``): the adapter modules a
function uses (and httpx under them) load on its first invocation, with the clients, and are not in
these figures. The interpreters are a venv of the layer's own requirements (plus boto3, which
Lambda's runtime brings), made once in .tools/layer-python: in the development venv ``import httpx``
also loads rich, click and pygments (httpx's command line, there because schemathesis needs them),
which the layer does not have.
`python -m benchmarks.imports [--quick]` prints the table; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.table import RatioRow, print_table
from local.lambdas import cold_start_environment

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "videojobs"
HANDLERS = sorted(path.parent.name for path in ROOT.glob("functions/*/app.py"))
GOAL_RATIO = 1.5
BOTO3 = "import boto3"
FLOOR = "import boto3, pydantic, httpx, aws_lambda_powertools"
TRACED = "transfer"
LAYER_PYTHON = ROOT / ".tools" / "layer-python" / "bin" / "python"


def layer_python() -> Path:
    """An interpreter with only what a function has on Lambda: the layer's requirements and boto3."""
    if not LAYER_PYTHON.exists():
        boto3 = next(
            line.strip()
            for line in (ROOT / "requirements-dev.txt").read_text().splitlines()
            if line.startswith("boto3==")
        )
        venv = LAYER_PYTHON.parent.parent
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
        install = [
            str(LAYER_PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-r",
            str(LAYER / "requirements.txt"),
            boto3,
        ]
        subprocess.run(install, check=True)  # noqa: S603
    return LAYER_PYTHON


@dataclass(frozen=True)
class Target:
    """One thing to import cold: ``statement`` run in ``folder`` with ``path`` as PYTHONPATH."""

    name: str
    statement: str
    folder: Path
    path: tuple[Path, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()


def handler_target(name: str, *, tracing: bool = False) -> Target:
    folder = ROOT / "functions" / name
    environment = {"POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true"}
    label = f"{name} handler with Tracing=Detailed (X-Ray SDK)" if tracing else f"{name} handler"
    return Target(label, "import app", folder, (folder, LAYER), tuple(environment.items()))


#: Run in the fresh interpreter around the target's statement; prints its milliseconds.
TIMED = """import time
started = time.perf_counter()
{statement}
print((time.perf_counter() - started) * 1000)
"""


def cold_import_ms(target: Target) -> float:
    """One fresh interpreter; it prints how long its import statement took."""
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own code
        [str(layer_python()), "-c", TIMED.format(statement=target.statement)],
        cwd=target.folder,
        env=_environment(target),
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def _environment(target: Target) -> dict[str, str]:
    return cold_start_environment(target.folder, target.path, dict(target.environment))


def median_cold_imports_ms(targets: list[Target], runs: int) -> dict[str, float]:
    """The median per target; every run imports each target once, in turn."""
    samples: dict[str, list[float]] = {target.name: [] for target in targets}
    for _ in range(runs):
        for target in targets:
            samples[target.name].append(cold_import_ms(target))
    return {name: statistics.median(taken) for name, taken in samples.items()}


def import_ratio_rows(quick: bool) -> list[RatioRow]:
    """Each handler's cold import against ``import boto3`` and the floor: median of 9 runs (3 when
    quick)."""
    runs = 3 if quick else 9
    targets = [
        Target("boto3", BOTO3, ROOT),
        Target("floor", FLOOR, ROOT),
        *(handler_target(name) for name in HANDLERS),
        handler_target(TRACED, tracing=True),
    ]
    medians = median_cold_imports_ms(targets, runs)
    boto3, floor = medians["boto3"], medians["floor"]
    rows = [
        RatioRow(
            f"cold import: {FLOOR.removeprefix('import ')} (the floor), median of {runs}",
            f"{floor:.0f} ms",
            f"import boto3 {boto3:.0f} ms",
            f"{floor / boto3:.2f}x boto3",
            "-",
        )
    ]
    for target in targets[2:]:
        ms = medians[target.name]
        rows.append(
            RatioRow(
                f"cold import: {target.name}, median of {runs}",
                f"{ms:.0f} ms",
                f"boto3 {boto3:.0f} ms, floor {floor:.0f} ms",
                f"{ms / boto3:.2f}x boto3, {ms / floor:.2f}x floor",
                "-" if "Tracing" in target.name else f"<= {GOAL_RATIO}x boto3",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs per figure instead of 9")
    print_table(import_ratio_rows(parser.parse_args().quick))


if __name__ == "__main__":
    main()
