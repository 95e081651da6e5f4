"""Jobs that wait for a provider slot, on a stack of its own whose EachLabs key runs one job at a time
(tests/e2e_isolated: one stack at a time, since stacks share the process environment): a cancel ends
one at once and nothing is ever sent for it, and a deadline that passes while one waits cancels it
with ``deadline_exceeded``. The functions' clock is stepped past the deadline; nothing sleeps for it."""

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from local.stack import FunctionsClock, LocalStack
from tests.e2e.conftest import start_stack, stepped_functions_clock

pytestmark = pytest.mark.e2e
T2V = {"provider": "eachlabs", "prompt": "a lighthouse", "resolution": "480p", "duration": 4}
CREATE_PATH = "/eachlabs/v1/prediction"


@pytest.fixture(scope="module")
def one_at_a_time() -> Iterator[LocalStack]:
    with start_stack("cancel-waiting", EACHLABS_MAX_CONCURRENT="1") as stack:
        yield stack


@pytest.fixture
def functions_clock(one_at_a_time: LocalStack) -> Iterator[FunctionsClock]:
    """As tests/e2e's fixture of the same name, for this stack."""
    with stepped_functions_clock(one_at_a_time) as clock:
        yield clock


@pytest.fixture
def sim(one_at_a_time: LocalStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{one_at_a_time.simulator.base_url}/_sim", timeout=30) as client:
        yield client
        client.delete("/faults").raise_for_status()


def wait_for(api: httpx.Client, job_id: str, statuses: set[str], *, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = api.get(f"/jobs/{job_id}").raise_for_status().json()
        if job["status"] in statuses or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def creates(sim: httpx.Client) -> list[dict[str, Any]]:
    log = sim.get("/requests", params={"provider": "eachlabs"}).raise_for_status().json()
    return [entry for entry in log if entry["method"] == "POST" and entry["path"] == CREATE_PATH]


def slot_taken(api: httpx.Client, sim: httpx.Client) -> str:
    """A job EachLabs holds in its queue: it keeps the key's one slot while the test runs."""
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    response = api.post("/jobs", json={**T2V, "client_reference": "holder"})
    assert response.status_code == 202, response.text
    holder: str = response.json()["job_id"]
    assert wait_for(api, holder, {"submitted", "processing"})["provider_job_id"]
    return holder


def test_a_job_waiting_for_a_slot_is_canceled_at_once_and_never_sent(
    one_at_a_time: LocalStack, sim: httpx.Client
) -> None:
    with one_at_a_time.api_client() as api:
        holder = slot_taken(api, sim)
        sent_before = len(creates(sim))
        waiting = api.post("/jobs", json={**T2V, "client_reference": "waiting"}).json()["job_id"]
        time.sleep(2.0)  # a few of its dispatch messages find no slot
        assert api.get(f"/jobs/{waiting}").json()["status"] == "queued"

        response = api.post(f"/jobs/{waiting}/cancel")

        assert response.status_code == 202, response.text
        view = response.json()
        assert (view["status"], view["error"]["code"]) == ("canceled", "canceled")
        assert view["cancel"]["provider_cancel"] is None  # nothing was sent: nothing to ask
        assert view["provider_job_id"] is None
        # The holder is canceled at EachLabs, its slot frees, and the canceled job still sends nothing.
        assert api.post(f"/jobs/{holder}/cancel").json()["cancel"]["provider_cancel"] == "accepted"
        time.sleep(2.0)
        assert len(creates(sim)) == sent_before
        assert api.get(f"/jobs/{waiting}").json() == view


def test_a_deadline_that_passes_while_the_job_waits_for_a_slot_cancels_it(
    one_at_a_time: LocalStack, sim: httpx.Client, functions_clock: FunctionsClock
) -> None:
    with one_at_a_time.api_client() as api:
        holder = slot_taken(api, sim)
        sent_before = len(creates(sim))
        response = api.post("/jobs", json={**T2V, "client_reference": "in-a-hurry", "deadline_seconds": 60})
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        time.sleep(1.5)
        assert api.get(f"/jobs/{job_id}").json()["status"] == "queued"

        functions_clock.advance(61)
        job = wait_for(api, job_id, {"canceled"}, timeout=20)

        assert job["status"] == "canceled", job
        assert job["error"]["code"] == "deadline_exceeded"
        assert len(creates(sim)) == sent_before
        assert api.get(f"/jobs/{holder}").json()["status"] in {"submitted", "processing"}
    events = [e for e in one_at_a_time.drain_events(wait_seconds=1.5) if e["detail"].get("job_id") == job_id]
    assert [(e["detail-type"], e["detail"]["error"]["code"]) for e in events] == [
        ("Video Job Canceled", "deadline_exceeded")
    ]
