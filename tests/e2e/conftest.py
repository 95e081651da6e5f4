"""The whole local stack, as `make local` runs it, on free loopback ports."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from local.event_schemas import pipeline_events
from local.stack import FunctionsClock, LocalStack, LocalStackConfig
from tests.support import NOTIFY_SECRET, assert_valid_event
from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.models import TERMINAL as FINAL_STATUSES

TERMINAL = {status.value for status in FINAL_STATUSES}
#: Status checks a second after submit, then every 2 s: jobs without a webhook finish in seconds.
FAST_CHECKS = {
    "STATUS_CHECK_FIRST_DELAY_SECONDS": "1",
    "STATUS_CHECK_MAX_DELAY_SECONDS": "2",
    "NOTIFY_SIGNING_SECRET": NOTIFY_SECRET,
}


class CheckedStack(LocalStack):
    """The local stack, checking every event it hands a test against the event's published schema."""

    def drain_events(self, *, wait_seconds: float = 0) -> list[dict[str, Any]]:
        events = super().drain_events(wait_seconds=wait_seconds)
        for event in events:
            # Tests also put events of their own on the bus (an impostor "Video Job Requested").
            if event["detail-type"] in pipeline_events():
                assert_valid_event(event)
        return events


def start_stack(name: str, **environment: str) -> CheckedStack:
    config = LocalStackConfig(
        aws_port=0,
        api_port=0,
        simulator_port=0,
        stack_name=name,
        environment={**FAST_CHECKS, **environment},
    )
    return CheckedStack(config)


#: For "by webhook alone": no status check comes within the few seconds a test's job takes.
CHECKS_PUSHED_OUT = {"STATUS_CHECK_FIRST_DELAY_SECONDS": "900", "STATUS_CHECK_MAX_DELAY_SECONDS": "900"}


@pytest.fixture(scope="module")
def checks_pushed_out(stack: LocalStack) -> Iterator[None]:
    """Status checks 15 minutes out for the jobs of the module that asks for this."""
    with stack.environment_overridden(**CHECKS_PUSHED_OUT):
        yield


@pytest.fixture(scope="package")
def stack() -> Iterator[LocalStack]:
    with start_stack("e2e") as running:
        yield running
        running.drain_events()  # the events no test read are checked too


@contextmanager
def stepped_functions_clock(stack: LocalStack) -> Iterator[FunctionsClock]:
    """The clock the functions run on (their adapters' included), stepped by the test: real time plus
    its steps, which every container reads before each event. Once the test is over the clock is real
    again and the containers are replaced, so that none keeps a time it stepped to (a JWKS fetched
    "later")."""
    clock = stack.functions_clock
    clock.reset()
    try:
        yield clock
    finally:
        clock.reset()
        stack.restart_functions()


@pytest.fixture
def functions_clock(stack: LocalStack) -> Iterator[FunctionsClock]:
    with stepped_functions_clock(stack) as clock:
        yield clock


@contextmanager
def dependencies_of(stack: LocalStack) -> Iterator[Dependencies]:
    """The functions' composition root, built in the test's process with their environment (the
    functions run in processes of their own): to act through a port as a function would."""
    from aws_lambda_powertools.utilities import parameters

    with pytest.MonkeyPatch.context() as patched:
        for name, value in stack.environment.items():
            patched.setenv(name, value)
        build_dependencies.cache_clear()
        parameters.clear_caches()
        try:
            yield build_dependencies()
        finally:
            build_dependencies.cache_clear()
            parameters.clear_caches()


@pytest.fixture
def functions_dependencies(stack: LocalStack) -> Iterator[Dependencies]:
    with dependencies_of(stack) as dependencies:
        yield dependencies


@pytest.fixture
def api(stack: LocalStack) -> Iterator[httpx.Client]:
    with stack.api_client() as client:
        yield client


@pytest.fixture
def sim(stack: LocalStack) -> Iterator[httpx.Client]:
    """The simulator's control plane, over HTTP; faults are reset after each test."""
    with httpx.Client(base_url=f"{stack.simulator.base_url}/_sim", timeout=30) as client:
        yield client
        client.delete("/faults").raise_for_status()


@pytest.fixture
def wait_for_job(api: httpx.Client) -> Callable[..., dict[str, Any]]:
    def wait(job_id: str, *, until: set[str] = TERMINAL, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = api.get(f"/jobs/{job_id}").raise_for_status().json()
            if job["status"] in until or time.monotonic() > deadline:
                return job
            time.sleep(0.2)

    return wait
