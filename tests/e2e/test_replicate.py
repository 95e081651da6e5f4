"""Replicate through the whole local stack: the local API front, the simulator's /replicate dialect, moto
and the queue runner.

For this module the status checks are pushed far out (first check after 15 minutes): the shared stack's
environment is changed and its functions' dependencies rebuilt, as the stack itself applies an
environment, and put back afterwards. So a job here can only finish through its webhook, and the tests
also check that no status GET of a prediction reached the simulator.

Every call the test itself makes to the simulator's Replicate API carries ``x-test-own-call``, so that the
request log shows apart what the pipeline sent: one ``GET /v1/webhooks/default/secret`` for all the
webhooks of the module (the functions' container is the same throughout).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.stack import LocalStack
from videojobs.dependencies import Dependencies
from videojobs.standard_webhooks import StandardWebhook

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
PROVIDER = "replicate"
TEST_HEADER = "x-test-own-call"
SECRET_PATH = "/replicate/v1/webhooks/default/secret"
JOB = {"provider": PROVIDER, "prompt": "a paper boat on a puddle", "resolution": "480p", "duration": 4}
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
FOREIGN_SECRET = "whsec_" + base64.b64encode(b"an account that is not ours 1234").decode()


@pytest.fixture(scope="module", autouse=True)
def secret_gets_before(stack: LocalStack, checks_pushed_out: None) -> int:
    """Status checks pushed out for this module's jobs; the secret GETs logged before it."""
    return len(secret_gets(stack))


def replicate_log(stack: LocalStack) -> list[dict[str, Any]]:
    """What the pipeline sent to /replicate (the test's own calls left out)."""
    return [entry for entry in stack.simulator.requests_for(PROVIDER) if TEST_HEADER not in entry["headers"]]


def secret_gets(stack: LocalStack) -> list[dict[str, Any]]:
    return [e for e in replicate_log(stack) if (e["method"], e["path"]) == ("GET", SECRET_PATH)]


def status_gets(stack: LocalStack, prediction_id: str) -> list[dict[str, Any]]:
    path = f"/replicate/v1/predictions/{prediction_id}"
    return [e for e in replicate_log(stack) if (e["method"], e["path"]) == ("GET", path)]


def own_call(stack: LocalStack, method: str, path: str) -> httpx.Response:
    """A call of the test's own to the simulator's Replicate API, marked so the log can leave it out."""
    key = stack.simulator.api_keys[PROVIDER][0]
    url = f"{stack.simulator.provider_base_url(PROVIDER)}{path}"
    headers = {"Authorization": f"Bearer {key}", TEST_HEADER: "1"}
    return httpx.request(method, url, headers=headers, timeout=10).raise_for_status()


def submit(api: httpx.Client, **fields: Any) -> str:
    response = api.post("/jobs", json={**JOB, **fields})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def record_of(sim: httpx.Client, prediction_id: str) -> dict[str, Any]:
    record: dict[str, Any] = sim.get(f"/predictions/{prediction_id}").raise_for_status().json()
    return record


def assert_finished_by_webhook_alone(
    stack: LocalStack, sim: httpx.Client, job: dict[str, Any]
) -> dict[str, Any]:
    assert job["status"] == "succeeded", job
    prediction_id = job["provider_job_id"]
    record = record_of(sim, prediction_id)
    assert record["webhook"]["state"] == "delivered"
    assert [attempt["status_code"] for attempt in record["webhook"]["attempts"]] == [200]
    assert status_gets(stack, prediction_id) == []
    video = job["video"]
    stored = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])["Body"].read()
    assert video["sha256"] == record["output_sha256"]
    assert stored[4:8] == b"ftyp"
    return record


def upload_input(stack: LocalStack, key: str) -> str:
    bucket = stack.ref("InputsBucket")
    stack.client("s3").put_object(Bucket=bucket, Key=key, Body=PNG_1x1, ContentType="image/png")
    return f"s3://{bucket}/{key}"


def test_text_to_video_ends_succeeded_by_its_webhook_alone(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(submit(api, aspect_ratio="16:9"), timeout=60)

    record = assert_finished_by_webhook_alone(stack, sim, job)
    assert record["meta"]["model"] == "bytedance/seedance-2.0"
    assert record["request"]["webhook_events_filter"] == ["completed"]
    assert record["request"]["input"] == {
        "prompt": JOB["prompt"],
        "duration": 4,
        "resolution": "480p",
        "aspect_ratio": "16:9",
        "generate_audio": True,
    }
    assert (record["clip"]["width"], record["clip"]["height"]) == (854, 480)


def test_first_and_last_frames_from_s3_end_succeeded_by_webhook_alone(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    first = upload_input(stack, "e2e/replicate/first.png")
    last = upload_input(stack, "e2e/replicate/last.png")

    job = wait_for_job(
        submit(api, tier="fast", aspect_ratio="auto", first_frame_url=first, last_frame_url=last), timeout=60
    )

    record = assert_finished_by_webhook_alone(stack, sim, job)
    sent = record["request"]["input"]
    assert record["meta"]["model"] == "bytedance/seedance-2.0-fast"
    assert sent["aspect_ratio"] == "adaptive"
    for field in ("image", "last_frame_image"):
        assert "X-Amz-Signature=" in sent[field]
        assert httpx.get(sent[field]).content == PNG_1x1
    assert [fetch["field"] for fetch in record["media_fetches"]] == ["input.image", "input.last_frame_image"]
    assert (job["request"]["first_frame_url"], job["request"]["last_frame_url"]) == (first, last)


def test_forged_stale_and_foreign_signatures_are_401_and_change_nothing(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait, secret_gets_before: int
) -> None:
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    job_id = submit(api)
    held = wait_for_job(job_id, until={"submitted", "processing"}, timeout=30)
    prediction_id = held["provider_job_id"]
    webhook_url = record_of(sim, prediction_id)["webhook"]["url"]
    account = StandardWebhook(own_call(stack, "GET", "/v1/webhooks/default/secret").json()["key"])
    prediction = own_call(stack, "GET", f"/v1/predictions/{prediction_id}").json()
    body = json.dumps(
        {**prediction, "status": "succeeded", "output": "https://replicate.delivery/x/o.mp4"}
    ).encode()
    now = int(time.time())

    forged = {
        **account.headers("msg_forged", now, body),
        "webhook-signature": "v1," + base64.b64encode(bytes(32)).decode(),
    }
    stale = account.headers("msg_stale", now - 3600, body)
    foreign = StandardWebhook(FOREIGN_SECRET).headers("msg_foreign", now, body)
    answers = [
        httpx.post(
            webhook_url, content=body, headers={"content-type": "application/json", **headers}, timeout=30
        )
        for headers in (forged, stale, foreign)
    ]

    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert all(answer.json()["error"]["code"] == "unauthorized" for answer in answers)
    assert api.get(f"/jobs/{job_id}").json() == held
    # The real webhook still moves the job once the prediction runs.
    sim.post("/faults", json={"hold_in_queue": False}).raise_for_status()
    assert_finished_by_webhook_alone(stack, sim, wait_for_job(job_id, timeout=60))
    # One fetch of the account secret served every webhook of this module, the refused ones included.
    assert len(secret_gets(stack)) - secret_gets_before == 1


def test_cancel_uses_replicates_own_cancel_and_the_canceled_webhook_fails_the_job(
    stack: LocalStack,
    api: httpx.Client,
    sim: httpx.Client,
    wait_for_job: Wait,
    functions_dependencies: Dependencies,
) -> None:
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    job_id = submit(api)
    prediction_id = wait_for_job(job_id, until={"submitted", "processing"}, timeout=30)["provider_job_id"]

    # The composition root the functions use: cancel through the port, as a cancel route will.
    functions_dependencies.provider(PROVIDER).cancel(prediction_id)

    job = wait_for_job(job_id, timeout=60)
    cancels = [
        e for e in replicate_log(stack) if e["path"] == f"/replicate/v1/predictions/{prediction_id}/cancel"
    ]
    assert [(e["method"], e["status"]) for e in cancels] == [("POST", 200)]
    assert job["status"] == "failed"
    assert job["error"]["code"] == "provider_failed"
    assert "canceled" in job["error"]["message"]
    assert record_of(sim, prediction_id)["status"] == "cancelled"
    assert status_gets(stack, prediction_id) == []


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"tier": "mini"}, ["body", "tier"]),
        ({"tier": "fast", "resolution": "1080p"}, ["body", "resolution"]),
        ({"watermark": True}, ["body", "watermark"]),
        (
            {
                "first_frame_url": "https://cdn.example.com/a.png",
                "reference_image_urls": ["https://cdn.example.com/r.png"],
            },
            ["body", "reference_image_urls"],
        ),
        ({"reference_video_urls": ["https://cdn.example.com/v.mp4"] * 4}, ["body", "reference_video_urls"]),
    ],
)
def test_a_capability_violation_is_a_422_naming_the_field_and_reaches_no_provider(
    stack: LocalStack, api: httpx.Client, fields: dict[str, Any], loc: list[str]
) -> None:
    items_before = stack.job_count()
    calls_before = len(stack.simulator.requests_for(PROVIDER))

    response = api.post("/jobs", json={**JOB, **fields})

    assert response.status_code == 422, response.text
    assert loc in [item["loc"] for item in response.json()["detail"]]
    assert stack.job_count() == items_before
    assert len(stack.simulator.requests_for(PROVIDER)) == calls_before
