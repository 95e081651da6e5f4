"""Submit -> provider -> webhook -> S3 -> DynamoDB -> EventBridge, over real loopback connections."""

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import httpx
import pytest

from local.stack import LocalStack
from videojobs.settings import Settings

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
T2V = {
    "provider": "eachlabs",
    "prompt": "a paper boat on a rainy street",
    "resolution": "480p",
    "duration": 4,
}


def submit(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = api.post("/jobs", json={**T2V, **fields})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def prediction(sim: httpx.Client, provider_job_id: str, *, settled: bool = True) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        record: dict[str, Any] = sim.get(f"/predictions/{provider_job_id}").raise_for_status().json()
        if record["settled"] or not settled or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


def events_for(stack: LocalStack, job_id: str, *, wait_seconds: float = 1.5) -> list[dict[str, Any]]:
    return [e for e in stack.drain_events(wait_seconds=wait_seconds) if e["detail"].get("job_id") == job_id]


def events_so_far(stack: LocalStack, job_id: str, *, timeout: float = 30) -> list[dict[str, Any]]:
    """The job's events among all the pipeline put on its bus before this call: a marker is put on the
    bus behind them and read back off the events tap (moto's queue keeps their order), so none of
    them is still on its way. No fixed wait."""
    marker = {"marker": time.time_ns()}
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.ref("VideoEventsBus"),
                "Source": Settings.model_fields["event_source"].default,
                "DetailType": "Test Marker",
                "Detail": json.dumps(marker),
            }
        ]
    )
    collected: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in stack.drain_events(wait_seconds=0.2):
            if event["detail"] == marker:
                return [e for e in collected if e["detail"].get("job_id") == job_id]
            collected.append(event)
    raise AssertionError(f"the marker put on the bus never reached the events tap in {timeout}s")


def wait_for_event(stack: LocalStack, job_id: str, detail_type: str, *, timeout: float = 30) -> None:
    """Until the job's ``detail_type`` event has come off the events tap (those before it are dropped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = stack.drain_events(wait_seconds=0.2)
        if any(e["detail-type"] == detail_type and e["detail"].get("job_id") == job_id for e in events):
            return
    raise AssertionError(f"no {detail_type!r} event for job {job_id} in {timeout}s")


def object_keys(stack: LocalStack, prefix: str) -> list[str]:
    listing = stack.client("s3").list_objects_v2(Bucket=stack.ref("VideosBucket"), Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def downloads_of(sim: httpx.Client, provider_job_id: str) -> int:
    log = sim.get("/requests", params={"provider": "outputs"}).raise_for_status().json()
    return sum(1 for entry in log if provider_job_id in entry["path"])


def test_text_to_video_ends_with_the_mp4_in_s3_and_an_event(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    submitted = submit(api, aspect_ratio="16:9")

    job = wait_for_job(submitted["job_id"])

    assert job["status"] == "succeeded", job
    record = prediction(sim, job["provider_job_id"])
    video = job["video"]
    obj = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])
    data = obj["Body"].read()
    assert video["key"] == f"videos/{job['job_id']}.mp4"
    assert hashlib.sha256(data).hexdigest() == video["sha256"] == record["output_sha256"]
    assert len(data) == video["size_bytes"] == record["output_size"]
    assert obj["ContentType"] == video["content_type"] == "video/mp4"
    assert data[4:8] == b"ftyp"
    events = events_for(stack, job["job_id"])
    assert [e["detail-type"] for e in events] == ["Video Job Succeeded"]
    assert events[0]["detail"]["video"]["sha256"] == video["sha256"]


def test_image_to_video_with_first_and_last_frame(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait, tmp_path: Any
) -> None:
    submitted = submit(
        api,
        first_frame_url="https://cdn.example.com/start.jpg",
        last_frame_url="https://cdn.example.com/end.jpg",
        aspect_ratio="9:16",
        generate_audio=False,
    )

    job = wait_for_job(submitted["job_id"])

    assert job["status"] == "succeeded", job
    sent = prediction(sim, job["provider_job_id"])["request"]
    assert sent["model"] == "bytedance-seedance-2-0-image-to-video-fast"
    assert sent["input"]["image_url"] == "https://cdn.example.com/start.jpg"
    assert sent["input"]["end_image_url"] == "https://cdn.example.com/end.jpg"
    target = tmp_path / "clip.mp4"
    stack.client("s3").download_file(job["video"]["bucket"], job["video"]["key"], str(target))
    with av.open(str(target)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (480, 854)
        assert len(container.streams.audio) == 0


@pytest.mark.parametrize("token", [None, "0" * 64])
def test_a_webhook_without_the_right_token_is_401_and_changes_nothing(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait, token: str | None
) -> None:
    job = wait_for_job(submit(api)["job_id"])
    record = prediction(sim, job["provider_job_id"])
    url = httpx.URL(record["webhook"]["url"])
    forged = url.copy_remove_param("token") if token is None else url.copy_set_param("token", token)
    body = json.dumps({"exec_id": job["provider_job_id"], "status": "failed", "output": "", "error": "x"})

    response = httpx.post(str(forged), content=body, headers={"content-type": "application/json"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert api.get(f"/jobs/{job['job_id']}").json() == job
    assert all(e["detail-type"] != "Video Job Failed" for e in events_so_far(stack, job["job_id"]))


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"resolution": "1080p"}, ["body", "resolution"]),
        ({"duration": 3}, ["body", "duration"]),
        ({"prompt": ""}, ["body", "prompt"]),
        ({"first_frame_url": "http://127.0.0.1/a.png"}, ["body", "first_frame_url"]),
        ({"reference_image_urls": ["https://cdn.example.com/a.png"]}, ["body", "reference_image_urls"]),
        ({"tier": "standard"}, ["body", "tier"]),
    ],
)
def test_an_invalid_body_is_a_422_naming_the_field_and_reaches_no_one(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, fields: dict[str, Any], loc: list[str]
) -> None:
    items_before = stack.job_count()
    creates_before = eachlabs_creates(sim)

    response = api.post("/jobs", json={**T2V, **fields})

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert loc in [item["loc"] for item in detail]
    assert all(item["msg"] for item in detail)
    assert "Traceback" not in response.text
    assert stack.job_count() == items_before
    assert eachlabs_creates(sim) == creates_before


def test_a_webhook_delivered_three_times_at_once_leaves_one_object_and_one_event(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"duplicate_webhooks": 3}).raise_for_status()

    job = wait_for_job(submit(api)["job_id"])

    record = prediction(sim, job["provider_job_id"])
    assert job["status"] == "succeeded"
    assert len(record["webhook"]["attempts"]) == 3
    assert {attempt["status_code"] for attempt in record["webhook"]["attempts"]} == {200}
    assert object_keys(stack, f"videos/{job['job_id']}") == [f"videos/{job['job_id']}.mp4"]
    assert [e["detail-type"] for e in events_for(stack, job["job_id"])] == ["Video Job Succeeded"]
    assert downloads_of(sim, job["provider_job_id"]) == 1


def test_a_failed_webhook_after_success_changes_nothing(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(submit(api)["job_id"])
    record = prediction(sim, job["provider_job_id"])
    secret = record["request"]["webhook_secret"]
    body = json.dumps({"exec_id": job["provider_job_id"], "status": "failed", "output": "", "error": "late"})
    stamp = str(int(time.time()))
    signature = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    wait_for_event(stack, job["job_id"], "Video Job Succeeded")

    response = httpx.post(
        record["webhook"]["url"],
        content=body,
        headers={
            "content-type": "application/json",
            "x-webhook-timestamp": stamp,
            "x-webhook-signature": f"sha256={signature}",
        },
    )

    assert response.status_code == 200
    assert response.json() == {"job_id": job["job_id"], "status": "succeeded", "effect": "ignored"}
    assert api.get(f"/jobs/{job['job_id']}").json() == job
    assert events_so_far(stack, job["job_id"]) == []


def test_a_download_cut_halfway_leaves_nothing_partial_and_succeeds_on_retry(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"cut_downloads": 1}).raise_for_status()

    job = wait_for_job(submit(api)["job_id"])

    record = prediction(sim, job["provider_job_id"])
    assert job["status"] == "succeeded", job
    assert job["video"]["sha256"] == record["output_sha256"]
    assert downloads_of(sim, job["provider_job_id"]) == 2
    uploads = stack.client("s3").list_multipart_uploads(Bucket=stack.ref("VideosBucket"))
    assert uploads.get("Uploads", []) == []


def test_a_transfer_that_keeps_failing_is_dead_lettered_and_the_job_failed(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"cut_downloads": 3}).raise_for_status()

    job = wait_for_job(submit(api)["job_id"], timeout=90)

    assert job["status"] == "failed", job
    assert job["error"]["code"] == "transfer_failed"
    assert "download cut" in job["error"]["message"]
    assert downloads_of(sim, job["provider_job_id"]) == 3
    assert object_keys(stack, f"videos/{job['job_id']}") == []
    assert [e["detail-type"] for e in events_for(stack, job["job_id"])] == ["Video Job Failed"]


def test_a_provider_failure_fails_the_job_with_its_reason(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"fail_predictions": 1}).raise_for_status()

    job = wait_for_job(submit(api)["job_id"])

    assert job["status"] == "failed"
    assert job["error"]["code"] == "provider_failed"
    assert job["error"]["message"]
    assert [e["detail-type"] for e in events_for(stack, job["job_id"])] == ["Video Job Failed"]


def eachlabs_creates(sim: httpx.Client) -> int:
    """Creates only: a status check's GET, or the cancel of an earlier test's expired job, may come
    while this test runs."""
    log = sim.get("/requests", params={"provider": "eachlabs"}).json()
    return sum(
        1 for entry in log if entry["method"] == "POST" and entry["path"].rstrip("/").endswith("/prediction")
    )


def test_a_retried_submission_with_an_idempotency_key_creates_one_job_and_a_reused_key_is_422(
    api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    creates_before = eachlabs_creates(sim)
    headers = {"idempotency-key": f"e2e-{time.time_ns()}"}

    first = api.post("/jobs", json=T2V, headers=headers)
    retry = api.post("/jobs", json=T2V, headers=headers)
    reused = api.post("/jobs", json={**T2V, "duration": 5}, headers=headers)

    assert (first.status_code, retry.status_code) == (202, 202)
    assert retry.json()["job_id"] == first.json()["job_id"]
    assert reused.status_code == 422
    assert reused.json()["detail"][0]["loc"] == ["header", "idempotency-key"]
    # The create happens after the 202, in the submit function: count once the job is done.
    assert wait_for_job(first.json()["job_id"])["status"] == "succeeded"
    assert eachlabs_creates(sim) == creates_before + 1


def test_an_unknown_job_is_404(api: httpx.Client) -> None:
    response = api.get("/jobs/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "job_not_found"


def test_concurrent_submissions_all_finish(api: httpx.Client, wait_for_job: Wait) -> None:
    results: list[dict[str, Any]] = []

    def one() -> None:
        results.append(submit(api))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    finished = [wait_for_job(job["job_id"], timeout=90) for job in results]
    assert [job["status"] for job in finished] == ["succeeded"] * 4
