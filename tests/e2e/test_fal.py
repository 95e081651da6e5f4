"""fal.ai through the whole local stack: the API front, the submit function, the simulator's fal queue,
its signed webhooks, the callback and the transfer, moto.

By webhook alone: status checks are pushed 15 minutes out for this module (``checks_pushed_out``), and
the simulator's log must hold no status read of the request.

Also: forged, stale and unknown-key webhooks get 401 and change nothing; a rotated key is picked up by
refetching the JWKS; cancel is fal's own PUT on the cancel_url stored with the job; a request fal cannot
serve is refused with 422 before any call reaches the simulator.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from local.stack import FunctionsClock, LocalStack
from videojobs.dependencies import Dependencies
from videojobs.models import AWAITING_PROVIDER

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
#: One clip for every job here: 480p 16:9 (854x480), 4 s, with audio; rendered once, up front.
JOB = {
    "provider": "fal",
    "prompt": "a paper lantern drifting over a river at night",
    "resolution": "480p",
    "duration": 4,
    "aspect_ratio": "16:9",
}
AWAITING = {str(status) for status in AWAITING_PROVIDER}
REQUESTS = "/fal/bytedance/seedance-2.0/requests/"
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def rendered_clip(stack: LocalStack) -> None:
    """Render JOB's clip once, straight at the simulator's fal queue, so no job here waits for it."""
    simulator = stack.simulator
    response = httpx.post(
        f"{simulator.provider_base_url('fal')}/bytedance/seedance-2.0/fast/text-to-video",
        headers={"Authorization": f"Key {simulator.api_keys['fal'][0]}"},
        json={"prompt": "warm-up", "resolution": "480p", "duration": "4", "aspect_ratio": "16:9"},
        timeout=30,
    )
    response.raise_for_status()
    simulator.wait_for_prediction(response.json()["request_id"], timeout=120)


@pytest.fixture(autouse=True)
def answers_at_once(stack: LocalStack, checks_pushed_out: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # fal answers at once: the webhook leaves as soon as the (cached) clip is there.
    monkeypatch.setattr(stack.simulator, "processing_seconds", 0.0)


@pytest.fixture
def hook() -> Iterator[httpx.Client]:
    """For posting webhooks to the API ourselves: the route is open, behind its token."""
    with httpx.Client(timeout=10) as client:
        yield client


def submit(api: httpx.Client, **fields: Any) -> str:
    response = api.post("/jobs", json={**JOB, **fields})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def requests_to_fal(sim: httpx.Client) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = sim.get("/requests", params={"provider": "fal"}).raise_for_status().json()
    return log


def assert_succeeded_by_webhook_alone(
    stack: LocalStack, sim: httpx.Client, job: dict[str, Any]
) -> dict[str, Any]:
    assert job["status"] == "succeeded", job
    request_id = job["provider_job_id"]
    record: dict[str, Any] = sim.get(f"/predictions/{request_id}").raise_for_status().json()
    # The webhook was delivered once and answered 2xx.
    attempts = record["webhook"]["attempts"]
    assert record["webhook"]["state"] == "delivered"
    assert len(attempts) == 1, attempts
    assert 200 <= attempts[0]["status_code"] < 300, attempts
    # No status read of the request: the webhook alone moved the job.
    status_reads = [
        entry
        for entry in requests_to_fal(sim)
        if entry["method"] == "GET" and entry["path"].startswith(f"{REQUESTS}{request_id}")
    ]
    assert status_reads == []
    # The video is the simulator's, copied to S3.
    video = job["video"]
    stored = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])["Body"].read()
    assert video["sha256"] == record["output_sha256"] == hashlib.sha256(stored).hexdigest()
    assert stored[4:8] == b"ftyp"
    return record


# -- by webhook alone --------------------------------------------------------------------------------------
@pytest.mark.usefixtures("rendered_clip")
def test_text_to_video_ends_succeeded_by_its_webhook_alone(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job_id = submit(api)

    job = wait_for_job(job_id, timeout=30)

    record = assert_succeeded_by_webhook_alone(stack, sim, job)
    assert record["meta"]["endpoint"] == "bytedance/seedance-2.0/text-to-video"
    assert record["request"] == {
        "prompt": JOB["prompt"],
        "resolution": "480p",
        "duration": "4",
        "aspect_ratio": "16:9",
        "generate_audio": True,
    }
    # 854 × 480 × 4 × 24 / 1024 = 38430 tokens at $0.014 per 1000 (standard).
    assert job["cost_estimate_usd"] == pytest.approx(0.538, abs=1e-4)


@pytest.mark.usefixtures("rendered_clip")
def test_a_first_and_last_frame_from_s3_end_succeeded_by_webhook_alone(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    bucket = stack.ref("InputsBucket")
    for key in ("e2e/fal/first.png", "e2e/fal/last.png"):
        stack.client("s3").put_object(Bucket=bucket, Key=key, Body=PNG_1x1, ContentType="image/png")
    first, last = f"s3://{bucket}/e2e/fal/first.png", f"s3://{bucket}/e2e/fal/last.png"

    job_id = submit(api, tier="fast", first_frame_url=first, last_frame_url=last)
    job = wait_for_job(job_id, timeout=30)

    record = assert_succeeded_by_webhook_alone(stack, sim, job)
    assert record["meta"]["endpoint"] == "bytedance/seedance-2.0/fast/image-to-video"
    sent = record["request"]
    assert "X-Amz-Signature=" in sent["image_url"]
    assert "X-Amz-Signature=" in sent["end_image_url"]
    # fal fetched both presigned URLs itself (the simulator fetches loopback media at submit).
    assert sorted((fetch["field"], fetch["status_code"]) for fetch in record["media_fetches"]) == [
        ("end_image_url", 200),
        ("image_url", 200),
    ]
    assert (job["request"]["first_frame_url"], job["request"]["last_frame_url"]) == (first, last)


# -- signatures ---------------------------------------------------------------------------------------------
def held_job(api: httpx.Client, sim: httpx.Client, wait_for_job: Wait) -> tuple[dict[str, Any], str]:
    """A job fal holds in its queue (so nothing finishes it meanwhile), and its webhook URL with token."""
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    job = wait_for_job(submit(api), until={"submitted", "processing"}, timeout=30)
    assert job["status"] in {"submitted", "processing"}, job
    (webhook_url,) = [
        entry["query"]["fal_webhook"]
        for entry in requests_to_fal(sim)
        if entry["method"] == "POST"
        and f"/webhooks/fal/{job['job_id']}?" in entry["query"].get("fal_webhook", "")
    ]
    return job, webhook_url


def ring_signer(ring: Any) -> Callable[[bytes], bytes]:
    """Signs with the simulator's current fal key, as fal would."""
    return lambda message: bytes(ring.sign(message)[1])


def signed(
    body: bytes,
    request_id: str,
    *,
    key: Callable[[bytes], bytes],
    timestamp: int,
    user_id: str = "sim-user-x",
) -> dict[str, str]:
    message = "\n".join((request_id, user_id, str(timestamp), hashlib.sha256(body).hexdigest())).encode()
    return {
        "Content-Type": "application/json",
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": user_id,
        "X-Fal-Webhook-Timestamp": str(timestamp),
        "X-Fal-Webhook-Signature": key(message).hex(),
    }


def test_forged_stale_and_unknown_key_webhooks_get_401_and_change_nothing(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, hook: httpx.Client, wait_for_job: Wait
) -> None:
    job, webhook_url = held_job(api, sim, wait_for_job)
    request_id = job["provider_job_id"]
    output = f"{stack.simulator.provider_base_url('fal')}/outputs/{request_id}.mp4"
    body = json.dumps(
        {
            "request_id": request_id,
            "gateway_request_id": request_id,
            "status": "OK",
            "payload": {"video": {"url": output}},
        }
    ).encode()
    now = int(time.time())
    fal_key = ring_signer(stack.simulator.key_ring("fal"))
    impostor = Ed25519PrivateKey.generate()
    attempts = {
        "forged": {
            **signed(body, request_id, key=fal_key, timestamp=now),
            "X-Fal-Webhook-Signature": "ab" * 64,
        },
        "stale": signed(body, request_id, key=fal_key, timestamp=now - 301),
        "unknown key": signed(body, request_id, key=impostor.sign, timestamp=now),
        "body changed": signed(body.replace(b'"OK"', b'"ERROR"'), request_id, key=fal_key, timestamp=now),
    }
    before = api.get(f"/jobs/{job['job_id']}").raise_for_status().json()

    for name, headers in attempts.items():
        response = hook.post(webhook_url, content=body, headers=headers)
        assert response.status_code == 401, (name, response.text)
        assert response.json()["error"]["code"] == "unauthorized"

    after = api.get(f"/jobs/{job['job_id']}").raise_for_status().json()
    assert (after["status"], after["updated_at"], after["video"]) == (
        before["status"],
        before["updated_at"],
        None,
    )
    # The genuine article still goes through: fal finishes the held job and its webhook moves it.
    sim.post("/faults", json={"hold_in_queue": False}).raise_for_status()
    assert wait_for_job(job["job_id"], timeout=30)["status"] == "succeeded"


@pytest.mark.usefixtures("rendered_clip")
def test_a_rotated_key_is_picked_up_by_refetching_the_jwks(
    stack: LocalStack,
    api: httpx.Client,
    sim: httpx.Client,
    wait_for_job: Wait,
    functions_clock: FunctionsClock,
) -> None:
    first = wait_for_job(submit(api), timeout=30)  # the adapter holds the keys of now
    assert_succeeded_by_webhook_alone(stack, sim, first)
    jwks_url = stack.environment["FAL_JWKS_URL"]
    before = httpx.get(jwks_url).raise_for_status().json()["keys"]
    sim.post("/keys/rotate").raise_for_status()
    after = httpx.get(jwks_url).raise_for_status().json()["keys"]
    assert len(after) == len(before) + 1
    functions_clock.advance(1)  # the adapter refetches the JWKS at most once a second

    job_id = submit(api)
    job = wait_for_job(job_id, timeout=30)

    assert_succeeded_by_webhook_alone(stack, sim, job)


# -- cancel -------------------------------------------------------------------------------------------------
def test_cancel_is_fals_put_on_the_cancel_url_stored_with_the_job(
    stack: LocalStack,
    api: httpx.Client,
    sim: httpx.Client,
    wait_for_job: Wait,
    functions_dependencies: Dependencies,
) -> None:
    job_view, _ = held_job(api, sim, wait_for_job)
    deps = functions_dependencies
    stored = deps.jobs.get(job_view["job_id"])
    assert stored is not None
    assert stored.provider_links is not None
    base = stack.simulator.provider_base_url("fal")
    request_id = job_view["provider_job_id"]
    assert (
        stored.provider_links["cancel_url"] == f"{base}/bytedance/seedance-2.0/requests/{request_id}/cancel"
    )

    deps.provider("fal", stored.provider_key_id).cancel(request_id, links=stored.provider_links)

    puts = [entry for entry in requests_to_fal(sim) if entry["method"] == "PUT"]
    assert [(entry["path"], entry["status"]) for entry in puts][-1] == (f"{REQUESTS}{request_id}/cancel", 202)
    record = sim.get(f"/predictions/{request_id}").raise_for_status().json()
    assert record["status"] == "cancelled"
    # fal reports the cancelled request by webhook: the job fails with fal's words.
    job = wait_for_job(job_view["job_id"], timeout=30)
    assert job["status"] == "failed", job
    assert "499" in job["error"]["message"]


# -- capabilities -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"tier": "fast", "resolution": "1080p"}, ["body", "resolution"]),
        ({"resolution": "4k"}, ["body", "resolution"]),
        ({"tier": "mini"}, ["body", "tier"]),
        ({"end_user_id": "customer-9"}, ["body", "end_user_id"]),
        (
            {
                "reference_image_urls": [f"https://cdn.example.com/{n}.png" for n in range(9)],
                "reference_video_urls": ["https://cdn.example.com/v.mp4"],
                "reference_audio_urls": [f"https://cdn.example.com/{n}.mp3" for n in range(3)],
            },
            ["body", "reference_image_urls"],
        ),
        (
            {
                "first_frame_url": "https://cdn.example.com/a.png",
                "reference_video_urls": ["https://cdn.example.com/v.mp4"],
            },
            ["body", "reference_video_urls"],
        ),
    ],
    ids=["1080p on fast", "4k", "mini tier", "end_user_id", "thirteen files", "frame and references"],
)
def test_a_request_fal_cannot_serve_is_a_422_naming_the_field_and_reaches_no_provider(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, fields: dict[str, Any], loc: list[str]
) -> None:
    items_before = stack.job_count()
    calls_before = len(requests_to_fal(sim))

    response = api.post("/jobs", json={**JOB, **fields})

    assert response.status_code == 422, response.text
    assert loc in [item["loc"] for item in response.json()["detail"]]
    assert stack.job_count() == items_before
    assert len(requests_to_fal(sim)) == calls_before
