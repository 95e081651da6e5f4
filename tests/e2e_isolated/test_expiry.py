"""A job its provider never finishes ends "expired" through status checks, on a stack of its own
whose JOB_MAX_AGE_SECONDS is a few seconds (tests/e2e_isolated: one stack at a time, since stacks
share the process environment)."""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.stack import LocalStack
from tests.e2e.conftest import start_stack

pytestmark = pytest.mark.e2e
MAX_AGE_SECONDS = 6
#: The prediction at the simulator, and what the provider said to the cancel, once the job expired.
STOPPED = {"gateway": ("processing", "unsupported"), "eachlabs": ("cancelled", "canceled")}


@pytest.fixture(scope="module")
def short_lived_stack() -> Iterator[LocalStack]:
    with start_stack("e2e-expiry", JOB_MAX_AGE_SECONDS=str(MAX_AGE_SECONDS)) as running:
        yield running


@pytest.mark.parametrize("provider", ["gateway", "eachlabs"])
def test_a_job_that_never_finishes_expires_after_the_maximum_age(
    short_lived_stack: LocalStack, provider: str
) -> None:
    stack = short_lived_stack
    with (
        stack.api_client() as api,
        httpx.Client(base_url=f"{stack.simulator.base_url}/_sim", timeout=30) as sim,
    ):
        sim.post("/faults", json={"stall_predictions": 1}).raise_for_status()
        submitted = api.post("/jobs", json={"provider": provider, "prompt": "p", "duration": 5})
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["job_id"]

        job = wait_until_final(api, job_id, timeout=MAX_AGE_SECONDS + 20)

        assert job["status"] == "expired", job
        assert job["error"]["code"] == "job_expired"
        # EachLabs stops the prediction with its own cancel call; the gateway has none, and it runs on.
        job = wait_until_answered(api, job_id, timeout=10)
        record = sim.get(f"/predictions/{job['provider_job_id']}").json()
        assert (record["status"], job["provider_cancel"]["status"]) == STOPPED[provider]
        polls = [
            r for r in sim.get("/requests", params={"provider": provider}).json() if r["method"] == "GET"
        ]
        assert len(polls) >= 2
    events = [e for e in stack.drain_events(wait_seconds=1.5) if e["detail"].get("job_id") == job_id]
    assert [(e["detail-type"], e["detail"]["status"]) for e in events] == [("Video Job Failed", "expired")]


def wait_until_final(api: httpx.Client, job_id: str, *, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/jobs/{job_id}").raise_for_status().json()
        if job["status"] in {"succeeded", "failed", "expired"} or time.monotonic() > deadline:
            return job
        time.sleep(0.3)


def wait_until_answered(api: httpx.Client, job_id: str, *, timeout: float) -> dict[str, Any]:
    """The job once the provider has answered the cancel its expiry owes (written just after it)."""
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/jobs/{job_id}").raise_for_status().json()
        if job["provider_cancel"]["status"] != "pending" or time.monotonic() > deadline:
            return job
        time.sleep(0.2)
