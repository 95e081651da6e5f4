"""Atlas Cloud and EachLabs jobs finish through their webhook alone, never through a status check.

The shared stack checks a job's status 1 s after its create and every 2 s after (FAST_CHECKS), and its
environment is fixed for the whole package, so the checks cannot be pushed out for one test. A check
that comes after the webhook moved the job makes no GET (the job is no longer awaiting its provider);
one that comes before it would. So the test makes the webhook win that race by a wide margin (no
processing time, the clip already rendered: the webhook comes within a fraction of that first
second), and then proves it did rather than assuming it, at the provider's end:

- the simulator logs every request with the time it answered it, and times its webhook delivery;
  a status GET of the prediction answered before the webhook's 2xx came back would be a status check
  that could have finished the job (and fails the test); one answered after it is allowed (and rare);
- the simulator's one webhook delivery must have been answered 2xx, and the job must end succeeded
  with its video in S3.

Usually no status GET is made at all. Each job is bounded by a 30 s wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
#: One clip for both providers: 480p 16:9 (854x480), 4 s, with audio; rendered once, up front.
JOB = {
    "prompt": "a paper boat on a puddle, rain",
    "resolution": "480p",
    "duration": 4,
    "aspect_ratio": "16:9",
}
PROVIDERS = ("atlascloud", "eachlabs")
#: What a status GET of a prediction looks like in the simulator's request log (under /{provider}).
STATUS_PATHS = {"atlascloud": "/api/v1/model/prediction/", "eachlabs": "/v1/prediction/"}


@pytest.fixture(scope="module")
def rendered_clip(stack: LocalStack) -> None:
    """Render JOB's clip once, straight at the simulator, so no job of this module waits for it."""
    simulator = stack.simulator
    response = httpx.post(
        f"{simulator.provider_base_url('eachlabs')}/v1/prediction",
        headers={"X-API-Key": simulator.api_keys["eachlabs"][0]},
        json={
            "model": "bytedance-seedance-2-0-text-to-video-fast",
            "version": "0.0.1",
            "input": {
                "prompt": "warm-up",
                "resolution": JOB["resolution"],
                "duration": str(JOB["duration"]),
                "aspect_ratio": JOB["aspect_ratio"],
            },
        },
        timeout=30,
    )
    response.raise_for_status()
    simulator.wait_for_prediction(response.json()["predictionID"], timeout=120)


@pytest.fixture
def answers_at_once(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider answers at once: the webhook leaves as soon as the (cached) clip is there."""
    monkeypatch.setattr(stack.simulator, "processing_seconds", 0.0)


@pytest.mark.usefixtures("rendered_clip", "answers_at_once")
@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_job_finishes_through_its_webhook_alone(
    stack: LocalStack,
    api: httpx.Client,
    sim: httpx.Client,
    wait_for_job: Wait,
    provider: str,
) -> None:
    response = api.post("/jobs", json={**JOB, "provider": provider})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]

    job = wait_for_job(job_id, timeout=30)

    assert job["status"] == "succeeded", job
    prediction_id = job["provider_job_id"]
    record = sim.get(f"/predictions/{prediction_id}").raise_for_status().json()
    # The webhook was delivered once and answered 2xx.
    attempts = record["webhook"]["attempts"]
    assert record["webhook"]["state"] == "delivered"
    assert len(attempts) == 1, attempts
    assert 200 <= attempts[0]["status_code"] < 300, attempts
    # No status GET was answered before the webhook had moved the job.
    acknowledged_at = attempts[0]["sent_at"] + attempts[0]["duration_seconds"]
    status_gets = [
        entry
        for entry in sim.get("/requests", params={"provider": provider}).raise_for_status().json()
        if entry["method"] == "GET" and entry["path"].endswith(f"{STATUS_PATHS[provider]}{prediction_id}")
    ]
    early = [entry for entry in status_gets if entry["answered_at"] < acknowledged_at]
    assert early == [], f"status GETs answered before the webhook was: {early}"
    # The video is the simulator's, copied to S3.
    video = job["video"]
    stored = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])["Body"].read()
    assert video["sha256"] == record["output_sha256"]
    assert stored[4:8] == b"ftyp"
