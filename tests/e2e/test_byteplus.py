"""BytePlus ModelArk end to end through the whole local stack: API front, queues, Lambdas, moto, simulator.

This module starts a stack of its own whose status checks are pushed an hour out, so that a job can only
finish through its callbacks. ModelArk's callbacks are unsigned: each one is believed only after one status
GET, which the simulator's request log shows.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from local.stack import LocalStack
from videojobs.dependencies import Dependencies
from videojobs.errors import CancelRefused

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
#: Stalled and cancelled tasks keep their slot for the stack's lifetime (their jobs never finish here):
#: more than the individual account's 3, so that later tests are not paced behind them.
ROOM = {"BYTEPLUS_MAX_CONCURRENT": "20"}
JOB = {
    "provider": "byteplus",
    "prompt": "a paper boat on a puddle, rain",
    "resolution": "480p",
    "duration": 4,
}
TASKS = "/byteplus/api/v3/contents/generations/tasks"
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module", autouse=True)
def room(stack: LocalStack, checks_pushed_out: None) -> Iterator[None]:
    """Status checks pushed out (a job that finishes did so through its callbacks), and room for more
    than 3 tasks at once."""
    with stack.environment_overridden(**ROOM):
        yield


def submit(api: httpx.Client, **fields: Any) -> str:
    response = api.post("/jobs", json={**JOB, **fields})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def prediction(sim: httpx.Client, task_id: str) -> dict[str, Any]:
    record: dict[str, Any] = sim.get(f"/predictions/{task_id}").raise_for_status().json()
    return record


def calls_to(sim: httpx.Client, task_id: str) -> list[tuple[str, int]]:
    """(method, status) of every request the simulator logged for the task (not its create)."""
    log = sim.get("/requests", params={"provider": "byteplus"}).raise_for_status().json()
    return [(entry["method"], entry["status"]) for entry in log if entry["path"] == f"{TASKS}/{task_id}"]


def job_of(api: httpx.Client, job_id: str) -> dict[str, Any]:
    view: dict[str, Any] = api.get(f"/jobs/{job_id}").raise_for_status().json()
    return view


def wait_for_task(api: httpx.Client, job_id: str, *, timeout: float = 30) -> str:
    """The provider's task id, once the submit function has created it."""
    deadline = time.monotonic() + timeout
    while True:
        view = job_of(api, job_id)
        if view["provider_job_id"]:
            return str(view["provider_job_id"])
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never reached ModelArk: {view}")
        time.sleep(0.1)


def upload_input(stack: LocalStack, key: str, data: bytes, content_type: str) -> str:
    bucket = stack.ref("InputsBucket")
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    return f"s3://{bucket}/{key}"


def assert_finished_by_callbacks(
    stack: LocalStack, sim: httpx.Client, job: dict[str, Any], statuses: list[str]
) -> dict[str, Any]:
    """The job succeeded with the simulator's video in S3, every callback was answered 2xx, and each one
    cost exactly one confirming status GET (no status check ran: they are an hour out)."""
    assert job["status"] == "succeeded", job
    task_id = job["provider_job_id"]
    record = prediction(sim, task_id)
    changes = [(sent["status"], sent["delivered"]) for sent in record["status_webhooks"]]
    # The simulator records its own words (processing); ModelArk's callbacks said "running".
    said = {"processing": "running"}
    assert [said.get(status, status) for status, _ in changes] + ["succeeded"] == statuses
    assert all(delivered for _, delivered in changes)
    assert record["webhook"]["state"] == "delivered"
    assert [attempt["status_code"] for attempt in record["webhook"]["attempts"]] == [200]
    assert calls_to(sim, task_id) == [("GET", 200)] * len(statuses)
    video = job["video"]
    data = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])["Body"].read()
    assert hashlib.sha256(data).hexdigest() == video["sha256"] == record["output_sha256"]
    assert data[4:8] == b"ftyp"
    return record


# -- by callbacks alone -----------------------------------------------------------------------------------
def test_text_to_video_ends_succeeded_by_its_callbacks_alone(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(submit(api, aspect_ratio="16:9"), timeout=60)

    record = assert_finished_by_callbacks(stack, sim, job, ["running", "succeeded"])
    assert record["request"]["model"] == "dreamina-seedance-2-0-260128"
    assert record["request"]["content"] == [{"type": "text", "text": JOB["prompt"]}]
    assert (record["request"]["ratio"], record["request"]["duration"]) == ("16:9", 4)


def test_first_and_last_frame_from_s3_end_succeeded_by_callbacks_alone_with_the_last_frame(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    first = upload_input(stack, "e2e/byteplus/first.png", PNG_1x1, "image/png")
    last = upload_input(stack, "e2e/byteplus/last.png", PNG_1x1, "image/png")

    job = wait_for_job(
        submit(api, first_frame_url=first, last_frame_url=last, return_last_frame=True, tier="mini"),
        timeout=60,
    )

    record = assert_finished_by_callbacks(stack, sim, job, ["running", "succeeded"])
    items = record["request"]["content"]
    assert [item.get("role") for item in items] == [None, "first_frame", "last_frame"]
    urls = [item["image_url"]["url"] for item in items[1:]]
    assert all("X-Amz-Signature=" in url for url in urls)
    assert [fetch["status_code"] for fetch in record["media_fetches"]] == [200, 200]
    assert [httpx.get(url).content for url in urls] == [PNG_1x1, PNG_1x1]
    assert record["request"]["model"] == "dreamina-seedance-2-0-mini-260615"
    assert (job["request"]["first_frame_url"], job["request"]["last_frame_url"]) == (first, last)
    frame = job["last_frame"]
    png = stack.client("s3").get_object(Bucket=frame["bucket"], Key=frame["key"])["Body"].read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_callbacks_on_queued_and_running_are_harmless_and_the_terminal_one_finishes_the_job(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    job_id = submit(api)
    task_id = wait_for_task(api, job_id)
    queued_seen = wait_for_job(job_id, until={"processing"}, timeout=30)

    sim.post("/faults", json={"hold_in_queue": False}).raise_for_status()
    job = wait_for_job(job_id, timeout=60)

    assert (queued_seen["status"], prediction(sim, task_id)["status_webhooks"][0]["status"]) == (
        "processing",
        "queued",
    )
    assert_finished_by_callbacks(stack, sim, job, ["queued", "running", "succeeded"])


# -- the unsigned callback is only a hint -----------------------------------------------------------------
def test_a_callback_claiming_success_for_a_running_task_changes_nothing_and_is_checked_by_a_get(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"stall_predictions": 1}).raise_for_status()
    job_id = submit(api)
    task_id = wait_for_task(api, job_id)
    before = wait_for_job(job_id, until={"processing"}, timeout=30)
    callback_url = prediction(sim, task_id)["webhook"]["url"]
    gets_before = calls_to(sim, task_id)
    forged = {
        "id": task_id,
        "model": "dreamina-seedance-2-0-260128",
        "status": "succeeded",
        "content": {"video_url": "https://ark-content-generation.tos-ap-southeast-1.bytepluses.com/x.mp4"},
        "error": None,
    }

    answer = httpx.post(callback_url, json=forged, timeout=30)
    after = job_of(api, job_id)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "processing"
    assert (before["status"], after["status"]) == ("processing", "processing")
    assert after["video"] is None
    assert calls_to(sim, task_id) == [*gets_before, ("GET", 200)]
    assert prediction(sim, task_id)["status"] == "processing"


def test_a_callback_without_its_token_is_401_and_makes_no_get(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"stall_predictions": 1}).raise_for_status()
    job_id = submit(api)
    task_id = wait_for_task(api, job_id)
    wait_for_job(job_id, until={"processing"}, timeout=30)
    callback_url = prediction(sim, task_id)["webhook"]["url"]
    gets_before = calls_to(sim, task_id)

    answer = httpx.post(callback_url.split("?")[0], json={"id": task_id, "status": "succeeded"}, timeout=30)

    assert answer.status_code == 401
    assert calls_to(sim, task_id) == gets_before
    assert job_of(api, job_id)["status"] == "processing"


# -- ModelArk's own cancel --------------------------------------------------------------------------------
def test_cancel_of_a_queued_task_is_modelark_s_delete_and_a_running_one_is_refused(
    stack: LocalStack,
    api: httpx.Client,
    sim: httpx.Client,
    wait_for_job: Wait,
    functions_dependencies: Dependencies,
) -> None:
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    queued_job = submit(api)
    queued_task = wait_for_task(api, queued_job)
    wait_for_job(queued_job, until={"processing"}, timeout=30)
    adapter = functions_dependencies.provider("byteplus")

    adapter.cancel(queued_task)

    assert prediction(sim, queued_task)["status"] == "cancelled"
    assert calls_to(sim, queued_task)[-2:] == [("GET", 200), ("DELETE", 200)]

    sim.post("/faults", json={"hold_in_queue": False, "stall_predictions": 1}).raise_for_status()
    running_job = submit(api)
    running_task = wait_for_task(api, running_job)
    wait_for_job(running_job, until={"processing"}, timeout=30)

    with pytest.raises(CancelRefused, match="running"):
        adapter.cancel(running_task)

    assert "DELETE" not in [method for method, _ in calls_to(sim, running_task)]
    assert prediction(sim, running_task)["status"] == "processing"


# -- capabilities -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"tier": "fast", "resolution": "1080p"}, ["body", "resolution"]),
        ({"tier": "mini", "resolution": "4k"}, ["body", "resolution"]),
        ({"duration": 3}, ["body", "duration"]),
        ({"camera_fixed": True}, ["body", "camera_fixed"]),
        ({"end_user_id": "user-1"}, ["body", "end_user_id"]),
        ({"operation": "edit_video"}, ["body", "operation"]),
        (
            {
                "first_frame_url": "https://cdn.example.com/a.png",
                "reference_image_urls": ["https://cdn.example.com/b.png"],
            },
            ["body", "reference_image_urls"],
        ),
        ({"reference_audio_urls": ["https://cdn.example.com/a.mp3"]}, ["body", "reference_audio_urls"]),
    ],
)
def test_a_capability_violation_is_a_422_naming_the_field_and_reaches_no_provider(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, fields: dict[str, Any], loc: list[str]
) -> None:
    items_before = stack.job_count()
    creates_before = byteplus_creates(sim)

    response = api.post("/jobs", json={**JOB, **fields})

    assert response.status_code == 422, response.text
    assert loc in [item["loc"] for item in response.json()["detail"]]
    assert stack.job_count() == items_before
    assert byteplus_creates(sim) == creates_before


def byteplus_creates(sim: httpx.Client) -> int:
    """POSTs only (ModelArk's create): a status check's GET or a cancel's DELETE of an earlier test's
    job may come while this test runs."""
    return sum(
        1
        for entry in sim.get("/requests", params={"provider": "byteplus"}).json()
        if entry["method"] == "POST"
    )
