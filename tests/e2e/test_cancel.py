"""POST /jobs/{job_id}/cancel through the whole local stack: the API front (SigV4), the cancel function,
each provider's own cancel call as the simulator's request log shows it, the "Video Job Canceled" event,
409 for a job past a cancel's reach, and a late webhook of a canceled job that copies nothing.

Status checks are pushed out for this module: what ends a job here is the cancel or a webhook."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from local.simulator.testing import LoopbackPeer
from local.stack import LocalStack
from tests.support import NOTIFY_SECRET
from videojobs.standard_webhooks import StandardWebhook

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
JOBS = {
    "fal": {"provider": "fal", "prompt": "a paper lantern", "resolution": "480p", "duration": 4},
    "replicate": {"provider": "replicate", "prompt": "a paper boat", "resolution": "480p", "duration": 4},
    "byteplus": {"provider": "byteplus", "prompt": "a paper crane", "resolution": "480p", "duration": 4},
    "eachlabs": {"provider": "eachlabs", "prompt": "a paper plane", "resolution": "480p", "duration": 4},
}
#: Each provider's own cancel, as its simulator logs it: (method, path with {id}, status).
PROVIDER_CANCEL = {
    "fal": ("PUT", "/fal/bytedance/seedance-2.0/requests/{id}/cancel", 202),
    "replicate": ("POST", "/replicate/v1/predictions/{id}/cancel", 200),
    "byteplus": ("DELETE", "/byteplus/api/v3/contents/generations/tasks/{id}", 200),
    "eachlabs": ("POST", "/eachlabs/v1/prediction/{id}/cancel", 200),
}
#: Held and stalled predictions keep their slots for the stack's lifetime: room for more than that.
ROOM = {f"{provider.upper()}_MAX_CONCURRENT": "20" for provider in JOBS}


@pytest.fixture(scope="module", autouse=True)
def room(stack: LocalStack, checks_pushed_out: None) -> Iterator[None]:
    with stack.environment_overridden(**ROOM):
        yield


def submit(api: httpx.Client, provider: str, **fields: Any) -> str:
    response = api.post("/jobs", json={**JOBS[provider], **fields})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def cancel(api: httpx.Client, job_id: str) -> httpx.Response:
    return api.post(f"/jobs/{job_id}/cancel")


def logged(sim: httpx.Client, provider: str) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = sim.get("/requests", params={"provider": provider}).raise_for_status().json()
    return log


def canceled_events(stack: LocalStack, job_id: str, *, timeout: float = 10) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found: list[dict[str, Any]] = []
    while not found and time.monotonic() < deadline:
        events = stack.drain_events(wait_seconds=0.3)
        found += [e for e in events if e["detail"].get("job_id") == job_id]
    return found


def stored_videos(stack: LocalStack, job_id: str) -> list[str]:
    listed = stack.client("s3").list_objects_v2(Bucket=stack.ref("VideosBucket"), Prefix=f"videos/{job_id}")
    return [item["Key"] for item in listed.get("Contents", [])]


@pytest.mark.parametrize("provider", sorted(PROVIDER_CANCEL))
def test_a_job_held_at_its_provider_is_canceled_with_the_providers_own_call(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait, provider: str
) -> None:
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    job_id = submit(api, provider)
    held = wait_for_job(job_id, until={"submitted", "processing"}, timeout=30)
    assert held["provider_job_id"], held

    response = cancel(api, job_id)

    assert response.status_code == 202, response.text
    view = response.json()
    assert view["status"] == "canceled"
    assert view["error"]["code"] == "canceled"
    assert view["cancel"]["provider_cancel"] == "accepted"
    assert view["cancel"]["requested_at"]
    method, path, status = PROVIDER_CANCEL[provider]
    path = path.format(id=held["provider_job_id"])
    # Among the calls at that path: ModelArk's callback of the change may GET the task right after.
    assert (method, status) in [
        (e["method"], e["status"]) for e in logged(sim, provider) if e["path"] == path
    ]
    events = canceled_events(stack, job_id)
    assert [(e["detail-type"], e["detail"]["status"]) for e in events] == [("Video Job Canceled", "canceled")]

    # The provider's own word on the canceled prediction (a webhook, where it sends one) changes nothing.
    time.sleep(1.0)
    again = cancel(api, job_id)
    assert (again.status_code, again.json()) == (202, view)  # a second cancel: the same view
    assert api.get(f"/jobs/{job_id}").json()["status"] == "canceled"


def test_a_running_task_modelark_will_not_cancel_renders_but_its_video_is_never_copied(
    stack: LocalStack,
    api: httpx.Client,
    sim: httpx.Client,
    wait_for_job: Wait,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(stack.simulator, "processing_seconds", 3.0)
    job_id = submit(api, "byteplus")
    task_id = wait_for_job(job_id, until={"processing"}, timeout=30)["provider_job_id"]

    response = cancel(api, job_id)

    assert response.status_code == 202, response.text
    view = response.json()
    assert view["status"] == "canceled"
    assert view["cancel"]["provider_cancel"] == "refused"
    assert "running" in view["cancel"]["error"]
    # ModelArk finishes the task anyway and calls back: the callback is answered, and copies nothing.
    record = stack.simulator.wait_for_prediction(task_id, timeout=60)
    assert record.status.value == "succeeded"
    assert sim.get(f"/predictions/{task_id}").json()["webhook"]["state"] == "delivered"
    time.sleep(1.0)
    after = api.get(f"/jobs/{job_id}").json()
    assert after["status"] == "canceled"
    assert after["video"] is None
    assert stored_videos(stack, job_id) == []


def test_a_finished_job_is_409_naming_its_status_and_stays_as_it_is(
    api: httpx.Client, wait_for_job: Wait, monkeypatch: pytest.MonkeyPatch, stack: LocalStack
) -> None:
    monkeypatch.setattr(stack.simulator, "processing_seconds", 0.0)
    job_id = submit(api, "eachlabs")
    finished = wait_for_job(job_id, timeout=60)
    assert finished["status"] == "succeeded", finished

    response = cancel(api, job_id)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "job_not_cancelable"
    assert "succeeded" in response.json()["error"]["message"]
    assert api.get(f"/jobs/{job_id}").json() == finished


def test_an_unknown_job_is_404_a_bad_id_422_and_another_method_405(api: httpx.Client) -> None:
    unknown = cancel(api, "7d3f6c1e-2b4a-4e8f-9a51-0c6de2f4b8a9")
    bad_id = cancel(api, "not-a-job")
    wrong_method = api.get("/jobs/7d3f6c1e-2b4a-4e8f-9a51-0c6de2f4b8a9/cancel")

    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "job_not_found")
    assert bad_id.status_code == 422
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")


def test_the_cancel_route_wants_a_signed_request(stack: LocalStack, api: httpx.Client) -> None:
    job_id = submit(api, "eachlabs")
    unsigned = httpx.post(f"{stack.api_url}/jobs/{job_id}/cancel", timeout=10)
    assert unsigned.status_code == 403


def test_a_canceled_job_with_a_notify_url_gets_a_signed_video_job_canceled_post(
    api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    with LoopbackPeer() as receiver:
        job_id = submit(api, "replicate", notify_url=f"{receiver.url}/hooks/video", client_reference="c-9")
        wait_for_job(job_id, until={"submitted", "processing"}, timeout=30)

        assert cancel(api, job_id).status_code == 202
        (posted,) = receiver.wait_for(1, timeout=30)

    StandardWebhook(NOTIFY_SECRET).verify(
        posted.headers, posted.body, now=int(time.time()), tolerance_seconds=60
    )
    body = posted.json()
    assert body["type"] == "video.job.canceled"
    assert (body["data"]["job_id"], body["data"]["status"]) == (job_id, "canceled")
    assert body["data"]["cancel"]["provider_cancel"] == "accepted"
