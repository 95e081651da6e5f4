"""The submit function keeps each API key within its limits, measured by the provider simulator.

Each test runs its own local stack with its own limits (tests/e2e_isolated: one stack at a time,
since stacks share the process environment). The simulator refuses with 429 above the same limit,
as EachLabs does.
"""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.stack import LocalStack
from tests.e2e.conftest import start_stack
from videojobs.models import TERMINAL as FINAL_STATUSES

pytestmark = pytest.mark.e2e
T2V = {"provider": "eachlabs", "prompt": "a lighthouse", "resolution": "480p", "duration": 4}
TERMINAL = {status.value for status in FINAL_STATUSES}


def submit_all(stack: LocalStack, count: int) -> list[str]:
    with stack.api_client() as api:
        responses = [api.post("/jobs", json={**T2V, "client_reference": f"p-{n}"}) for n in range(count)]
    assert [response.status_code for response in responses] == [202] * count
    return [response.json()["job_id"] for response in responses]


def wait_all(stack: LocalStack, job_ids: list[str], *, timeout: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    with stack.api_client() as api:
        while True:
            jobs = [api.get(f"/jobs/{job_id}").json() for job_id in job_ids]
            if all(job["status"] in TERMINAL for job in jobs) or time.monotonic() > deadline:
                return jobs
            time.sleep(0.3)


def simulator(stack: LocalStack, path: str) -> Any:
    response = httpx.get(f"{stack.simulator.base_url}/_sim/{path}", timeout=10)
    response.raise_for_status()
    return response.json()


def refuse_above(stack: LocalStack, limit: int) -> None:
    httpx.post(
        f"{stack.simulator.base_url}/_sim/faults", json={"max_active_per_key": limit}, timeout=10
    ).raise_for_status()


@pytest.fixture
def two_at_a_time() -> Iterator[LocalStack]:
    with start_stack("pacing-one-key", EACHLABS_MAX_CONCURRENT="2") as stack:
        stack.simulator.processing_seconds = 1.0
        refuse_above(stack, 2)
        yield stack


def test_eight_jobs_at_once_with_a_limit_of_two_never_exceed_two_and_all_succeed(
    two_at_a_time: LocalStack,
) -> None:
    stack = two_at_a_time

    jobs = wait_all(stack, submit_all(stack, 8))

    assert [job["status"] for job in jobs] == ["succeeded"] * 8
    (usage,) = simulator(stack, "usage")["eachlabs"].values()
    assert usage["peak"] == 2  # the limit was used, and never passed
    assert usage["creates"] == 8  # no 429 was ever needed: every create was accepted
    creates = [entry for entry in simulator(stack, "requests?provider=eachlabs") if entry["method"] == "POST"]
    assert [entry["status"] for entry in creates].count(429) == 0


def test_two_keys_with_a_limit_of_one_each_run_two_jobs_at_once() -> None:
    keys = "sim-eachlabs-key-a,sim-eachlabs-key-b"
    with start_stack("pacing-two-keys", EACHLABS_API_KEYS=keys, EACHLABS_MAX_CONCURRENT="1") as stack:
        # Long enough that the second job's create comes while the first renders even when its submit
        # container is still starting cold (a process of its own, seconds on a busy machine).
        stack.simulator.processing_seconds = 4.0
        refuse_above(stack, 1)

        jobs = wait_all(stack, submit_all(stack, 4))

        assert [job["status"] for job in jobs] == ["succeeded"] * 4
        usage = simulator(stack, "usage")["eachlabs"]
        assert {key: usage[key]["peak"] for key in keys.split(",")} == {key: 1 for key in keys.split(",")}
        assert sum(usage[key]["creates"] for key in keys.split(",")) == 4
        predictions = [p for p in simulator(stack, "predictions") if p["provider"] == "eachlabs"]
        spans = sorted((p["created_at"], p["completed_at"]) for p in predictions)
        overlapping = any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:], strict=False))
        assert overlapping, f"no two jobs ran at once: {spans}"
