"""What each function's module loads when Lambda imports it: a fresh interpreter in the function's
folder, with only that folder and the layer on the path, and the template's default environment
(tracing off). A package a function does not use must not be among its modules."""

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local.lambdas import cold_start_environment
from videojobs.providers import UNITS

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "videojobs"
FUNCTIONS = sorted(path.parent.name for path in ROOT.glob("functions/*/app.py"))

XRAY = "aws_xray_sdk"
#: A provider's unit (capabilities, price, settings) is light and loads with the settings; its adapter
#: and the wire helpers under it load with the first job for that provider.
PROVIDER_ADAPTERS = (
    *(f"videojobs.providers.{name}.adapter" for name in UNITS),
    "videojobs.providers._http",
    "videojobs.providers._jwks",
)
HTTPX = "httpx"
IDEMPOTENCY = "aws_lambda_powertools.utilities.idempotency"
EVENT_HANDLER = "aws_lambda_powertools.event_handler"
BATCH = "aws_lambda_powertools.utilities.batch"
PARSER = "aws_lambda_powertools.utilities.parser"
#: No longer a dependency of the layer; the development venv may still have it.
PYDANTIC_SETTINGS = "pydantic_settings"

#: No function loads these on import: the X-Ray SDK only with tracing on; a provider's adapter when a
#: job first needs it; httpx with the first port over HTTP (a provider, a download, a notification).
#: Nor Powertools' batch utility or parser: ``entry.sqs_batch`` and ``entry.SqsRecord`` do their work
#: without every event source's types.
NEVER_ON_IMPORT = (XRAY, *PROVIDER_ADAPTERS, HTTPX, PYDANTIC_SETTINGS, BATCH, PARSER)
#: And what each function does not use at all.
NOT_USED: dict[str, tuple[str, ...]] = {
    "callback": (IDEMPOTENCY,),
    "cancel": (IDEMPOTENCY,),
    "dead_letter": (IDEMPOTENCY, EVENT_HANDLER),
    "intake": (),
    "notify": (IDEMPOTENCY, EVENT_HANDLER),
    "status": (IDEMPOTENCY,),
    "status_check": (IDEMPOTENCY, EVENT_HANDLER),
    "submit": (IDEMPOTENCY, EVENT_HANDLER),
    "transfer": (IDEMPOTENCY, EVENT_HANDLER),
    "uploads": (IDEMPOTENCY,),
}

LIST_MODULES = "import json, sys\nimport app\nprint(json.dumps(sorted(sys.modules)))"
SUBPROCESS_TIMEOUT = 120


def run_in_function(function: str, code: str, environment: Mapping[str, str]) -> str:
    """``code`` run as Lambda runs a function: its folder as the working directory and on the path
    with the layer, nothing else of the repository's."""
    folder = ROOT / "functions" / function
    env = cold_start_environment(
        folder, (folder, LAYER), {"POWERTOOLS_METRICS_NAMESPACE": "SeedancePipelineTests", **environment}
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter on our own code
        [sys.executable, "-c", code],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def modules_of() -> dict[str, list[str]]:
    """Each function's modules after a cold import with tracing off, imported side by side."""

    def cold_import(function: str) -> list[str]:
        modules: list[str] = json.loads(
            run_in_function(function, LIST_MODULES, {"POWERTOOLS_TRACE_DISABLED": "true"})
        )
        return modules

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return dict(zip(FUNCTIONS, pool.map(cold_import, FUNCTIONS), strict=True))


def loaded(modules: list[str], package: str) -> list[str]:
    return [module for module in modules if module == package or module.startswith(f"{package}.")]


def test_every_function_has_a_row() -> None:
    assert sorted(NOT_USED) == FUNCTIONS


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_cold_import_loads_no_xray_sdk_provider_httpx_pydantic_settings_or_batch_utility(
    function: str, modules_of: dict[str, list[str]]
) -> None:
    modules = modules_of[function]

    assert {package: loaded(modules, package) for package in NEVER_ON_IMPORT} == {
        package: [] for package in NEVER_ON_IMPORT
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_imports_nothing_it_does_not_use(function: str, modules_of: dict[str, list[str]]) -> None:
    modules = modules_of[function]

    assert {package: loaded(modules, package) for package in NOT_USED[function]} == {
        package: [] for package in NOT_USED[function]
    }


def test_the_intake_is_the_one_function_with_idempotency() -> None:
    assert [function for function, unused in NOT_USED.items() if IDEMPOTENCY not in unused] == ["intake"]


TRACED_PROBE = """
import json
import app
from aws_xray_sdk.core import xray_recorder
from videojobs.observability import tracer

sent = []

class RecordingEmitter:
    def send_entity(self, entity):
        sent.append(entity.name)

    def set_daemon_address(self, address):
        pass

xray_recorder.configure(emitter=RecordingEmitter())

@tracer.capture_method
def probe():
    return 42

outcome = {"tracer": type(tracer).__name__, "disabled": tracer.disabled, "result": probe(), "sent": sent}
print(json.dumps(outcome))
"""


def test_with_tracing_on_the_xray_tracer_captures_methods() -> None:
    # Given Tracing=Detailed: POWERTOOLS_TRACE_DISABLED=false, inside Lambda, in a sampled trace
    environment = {
        "POWERTOOLS_TRACE_DISABLED": "false",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    }

    # When a function is imported and a captured method runs
    outcome = json.loads(run_in_function("transfer", TRACED_PROBE, environment))

    # Then the tracer is Powertools' and the method got its subsegment
    assert outcome == {"tracer": "Tracer", "disabled": False, "result": 42, "sent": ["## __main__.probe"]}
