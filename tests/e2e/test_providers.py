"""Every provider dialect end to end: the local API front, the simulator, moto, the queue runner."""

import base64
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from local.simulator.media import render_mp4
from local.stack import FunctionsClock, LocalStack

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
PROVIDERS = ["eachlabs", "atlascloud", "gateway", "jobs_api"]
#: A duration every dialect accepts (the gateway starts at 5 s).
BASE = {"prompt": "a lighthouse in a storm, slow push-in", "resolution": "480p", "duration": 5}
FRAMES = {
    "first_frame_url": "https://cdn.example.com/start.jpg",
    "last_frame_url": "https://cdn.example.com/end.jpg",
}


def submit(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = api.post("/jobs", json={**BASE, **fields})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def prediction(sim: httpx.Client, provider_job_id: str) -> dict[str, Any]:
    record: dict[str, Any] = sim.get(f"/predictions/{provider_job_id}").raise_for_status().json()
    return record


def requests_to(sim: httpx.Client, provider: str) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = sim.get("/requests", params={"provider": provider}).raise_for_status().json()
    return log


def stored_video(stack: LocalStack, job: dict[str, Any]) -> bytes:
    video = job["video"]
    data: bytes = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])["Body"].read()
    return data


def assert_copied(stack: LocalStack, sim: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    assert job["status"] == "succeeded", job
    record = prediction(sim, job["provider_job_id"])
    data = stored_video(stack, job)
    assert job["video"]["key"] == f"videos/{job['job_id']}.mp4"
    assert hashlib.sha256(data).hexdigest() == job["video"]["sha256"] == record["output_sha256"]
    assert data[4:8] == b"ftyp"
    return record


@pytest.mark.parametrize("provider", PROVIDERS)
def test_text_to_video_ends_succeeded_with_the_mp4_in_s3(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait, provider: str
) -> None:
    job = wait_for_job(submit(api, provider=provider, aspect_ratio="16:9")["job_id"])

    record = assert_copied(stack, sim, job)
    assert (record["clip"]["width"], record["clip"]["height"]) == (854, 480)
    assert record["clip"]["duration_seconds"] == 5


@pytest.mark.parametrize("provider", PROVIDERS)
def test_image_to_video_with_a_first_and_last_frame_ends_succeeded(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait, provider: str
) -> None:
    job = wait_for_job(submit(api, provider=provider, aspect_ratio="9:16", **FRAMES)["job_id"])

    record = assert_copied(stack, sim, job)
    sent = json.dumps(record["request"])
    assert FRAMES["first_frame_url"] in sent
    assert FRAMES["last_frame_url"] in sent


def test_the_gateway_finishes_through_status_checks_alone_and_keeps_the_last_frame(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(
        submit(api, provider="gateway", tier="fast", aspect_ratio="1:1", return_last_frame=True)["job_id"]
    )

    record = assert_copied(stack, sim, job)
    assert record["webhook"]["url"] is None
    assert record["webhook"]["attempts"] == []
    assert record["request"]["model"] == "seedance2.0-fast-480p"
    checks = [
        r for r in requests_to(sim, "gateway") if r["path"].endswith(f"/v1/videos/{job['provider_job_id']}")
    ]
    assert checks
    assert all(r["method"] == "GET" for r in checks)
    frame = job["last_frame"]
    assert frame["key"] == f"frames/{job['job_id']}-last.png"
    png = stack.client("s3").get_object(Bucket=frame["bucket"], Key=frame["key"])["Body"].read()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert hashlib.sha256(png).hexdigest() == frame["sha256"]


def test_a_jobs_api_callback_is_confirmed_with_a_status_call(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(submit(api, provider="jobs_api")["job_id"])

    record = assert_copied(stack, sim, job)
    assert [a["status_code"] for a in record["webhook"]["attempts"]] == [200]
    polls = [
        r for r in requests_to(sim, "jobs_api") if r["path"].endswith(f"/v1/jobs/{job['provider_job_id']}")
    ]
    assert polls


def test_an_eachlabs_job_whose_webhook_is_lost_finishes_through_status_checks(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"drop_webhooks": 1}).raise_for_status()

    job = wait_for_job(submit(api, provider="eachlabs")["job_id"])

    record = assert_copied(stack, sim, job)
    assert record["webhook"]["state"] == "dropped"
    assert record["webhook"]["attempts"] == []


def forge(record: dict[str, Any], **header_changes: str) -> httpx.Response:
    headers = {**record["webhook"]["headers"], **header_changes}
    return httpx.post(record["webhook"]["url"], content=record["webhook"]["body"], headers=headers)


def test_a_forged_or_stale_atlas_signature_is_401_and_changes_nothing(
    api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(submit(api, provider="atlascloud")["job_id"])
    record = prediction(sim, job["provider_job_id"])
    signature = record["webhook"]["headers"]["X-AtlasCloud-Webhook-Signature-Ed25519"]
    flipped = base64.urlsafe_b64encode(bytes(64)).decode().rstrip("=")
    stale = str(int(time.time()) - 3600)

    responses = [
        forge(record, **{"X-AtlasCloud-Webhook-Signature-Ed25519": flipped}),
        forge(record, **{"X-AtlasCloud-Webhook-Timestamp": stale}),
        httpx.post(
            record["webhook"]["url"],
            content=record["webhook"]["body"].replace("completed", "failed"),
            headers=record["webhook"]["headers"],
        ),
    ]

    assert signature != flipped
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert all(r.json()["error"]["code"] == "unauthorized" for r in responses)
    assert api.get(f"/jobs/{job['job_id']}").json() == job


def test_rotated_atlas_keys_are_picked_up(
    stack: LocalStack,
    api: httpx.Client,
    sim: httpx.Client,
    wait_for_job: Wait,
    functions_clock: FunctionsClock,
) -> None:
    wait_for_job(submit(api, provider="atlascloud")["job_id"])  # the adapter holds the keys of now
    new_kid = sim.post("/keys/rotate").raise_for_status().json()["kid"]
    jwks_fetches = sum(1 for r in requests_to(sim, "atlascloud") if r["path"].endswith("jwks.json"))
    functions_clock.advance(1)  # the adapter refetches an unknown key at most once a second

    job = wait_for_job(submit(api, provider="atlascloud")["job_id"])

    record = assert_copied(stack, sim, job)
    assert record["webhook"]["headers"]["X-AtlasCloud-Webhook-Key-Id"] == new_kid
    assert [a["status_code"] for a in record["webhook"]["attempts"]] == [200]
    after = sum(1 for r in requests_to(sim, "atlascloud") if r["path"].endswith("jwks.json"))
    assert after == jwks_fetches + 1


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"provider": "eachlabs", "resolution": "1080p"}, ["body", "resolution"]),
        ({"provider": "gateway", "duration": 4}, ["body", "duration"]),
        (
            {"provider": "gateway", "reference_image_urls": ["https://cdn.example.com/a.png"] * 10},
            ["body", "reference_image_urls"],
        ),
        (
            {
                "provider": "gateway",
                "operation": "extend_video",
                "first_frame_url": "https://cdn.example.com/a.png",
            },
            ["body", "operation"],
        ),
        ({"provider": "atlascloud", "tier": "mini"}, ["body", "tier"]),
        (
            {"provider": "jobs_api", "reference_audio_urls": ["https://cdn.example.com/a.mp3"]},
            ["body", "reference_audio_urls"],
        ),
        (
            {"provider": "jobs_api", "first_frame_url": "s3://somebody-elses-bucket/a.png"},
            ["body", "first_frame_url"],
        ),
    ],
)
def test_a_capability_violation_is_a_422_naming_the_field_and_reaches_no_provider(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, fields: dict[str, Any], loc: list[str]
) -> None:
    items_before = stack.job_count()
    calls_before = {provider: len(requests_to(sim, provider)) for provider in PROVIDERS}

    response = api.post("/jobs", json={**BASE, **fields})

    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert loc in [item["loc"] for item in detail]
    assert all(item["msg"] for item in detail)
    assert stack.job_count() == items_before
    assert {provider: len(requests_to(sim, provider)) for provider in PROVIDERS} == calls_before


def upload_input(stack: LocalStack, key: str, data: bytes, content_type: str) -> str:
    bucket = stack.ref("InputsBucket")
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
    return f"s3://{bucket}/{key}"


PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_an_s3_first_frame_reaches_eachlabs_as_a_presigned_url_it_can_fetch(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    url = upload_input(stack, "e2e/start.png", PNG_1x1, "image/png")

    job = wait_for_job(submit(api, provider="eachlabs", first_frame_url=url)["job_id"])

    record = assert_copied(stack, sim, job)
    sent = record["request"]["input"]["image_url"]
    assert "X-Amz-Signature=" in sent
    assert httpx.get(sent).content == PNG_1x1
    assert job["request"]["first_frame_url"] == url


@pytest.mark.parametrize(("provider", "field"), [("atlascloud", "image"), ("jobs_api", "first_frame_url")])
def test_an_s3_first_frame_goes_through_the_providers_upload_endpoint(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait, provider: str, field: str
) -> None:
    url = upload_input(stack, f"e2e/{provider}/start.png", PNG_1x1, "image/png")

    job = wait_for_job(submit(api, provider=provider, first_frame_url=url)["job_id"])

    record = assert_copied(stack, sim, job)
    request = record["request"]
    uploaded = request[field] if field in request else request["input"][field]
    assert "X-Amz-Signature" not in uploaded
    assert httpx.get(uploaded).content == PNG_1x1


def test_an_s3_reference_video_for_the_gateway_edit_operation(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait, tmp_path: Path
) -> None:
    clip = tmp_path / "ref.mp4"
    render_mp4(clip, width=320, height=240, duration_seconds=2, with_audio=False)
    url = upload_input(stack, "e2e/ref.mp4", clip.read_bytes(), "video/mp4")

    job = wait_for_job(
        submit(api, provider="gateway", operation="edit_video", reference_video_urls=[url])["job_id"]
    )

    record = assert_copied(stack, sim, job)
    assert record["request"]["extra_body"]["operation"] == "edit_video"
    target = tmp_path / "out.mp4"
    target.write_bytes(stored_video(stack, job))
    with av.open(str(target)) as container:
        assert container.streams.video[0].height == 480
