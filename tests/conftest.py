"""Test-wide setup. Powertools reads these when the observability module is first imported."""

import os
from typing import Any

import pytest

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "seedance-pipeline")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SeedancePipelineTests")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def stack_of(nodeid: str) -> str | None:
    """The local stack a test runs on, or None: tests/e2e share one (package-scoped); each module of
    tests/e2e_isolated starts its own."""
    path = nodeid.split("::", 1)[0]
    if path.startswith("tests/e2e/"):
        return "tests/e2e"
    if path.startswith("tests/e2e_isolated/"):
        return path
    return None


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under pytest-xdist's ``--dist loadscope`` (what `make test` runs) or plain ``-n``: the tests of
    one local stack are one unit of work, so they run in one worker and the stack starts once there
    (a stack sets the process environment and reuses its name, so a worker must not hold two, nor
    start one twice). Every other module is a unit of its own.

    Not ``--dist loadgroup`` with ``xdist_group`` marks: pytest-xdist 3.8 marks a group by rewriting
    the node id, which pytest 9.2 no longer reads, so the groups are silently ignored
    (pytest-dev/pytest-xdist#1386)."""
    if config.getvalue("dist") not in ("load", "loadscope"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerPerStack(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return stack_of(nodeid) or super()._split_scope(nodeid)

    return OneWorkerPerStack(config, log)
