"""Atlas Cloud and EachLabs jobs finish through their webhook alone, never through a status check.

The shared stack checks a job's status 1 s after its create and every 2 s after (FAST_CHECKS), and its
environment is fixed for the whole package, so the checks cannot be pushed out for one test. A check
that comes after the webhook moved the job makes no GET (the job is no longer awaiting its provider);
one that comes before it would. So the test makes the webhook win that race by a wide margin (no
processing time, the clip already rendered: the webhook comes within a fraction of that first
second), and then proves it did rather than assuming it:

- every status GET our adapters make is stamped, before it goes out, with the job's status as our API
  shows it at that moment; a GET stamped queued/submitted/processing would be a status check that
  could have finished the job (and fails the test), a GET stamped transferring/succeeded came after
  the webhook was accepted (allowed, and rare);
- the simulator's request log must hold exactly the stamped GETs for the prediction, so none went
  out unseen;
- the simulator's one webhook delivery must have been answered 2xx, and the job must end succeeded
  with its video in S3.

Usually no status GET is made at all. Each job is bounded by a 30 s wait.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from local.sigv4 import SigV4
from local.stack import LocalStack
from videojobs.models import AWAITING_PROVIDER, ProviderUpdate
from videojobs.providers.atlascloud.adapter import AtlasCloudProvider
from videojobs.providers.eachlabs.adapter import EachLabsProvider

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
#: One clip for both providers: 480p 16:9 (854x480), 4 s, with audio; rendered once, up front.
JOB = {
    "prompt": "a paper boat on a puddle, rain",
    "resolution": "480p",
    "duration": 4,
    "aspect_ratio": "16:9",
}
ADAPTERS: dict[str, type[AtlasCloudProvider] | type[EachLabsProvider]] = {
    "atlascloud": AtlasCloudProvider,
    "eachlabs": EachLabsProvider,
}
#: What a status GET of a prediction looks like in the simulator's request log (under /{provider}).
STATUS_PATHS = {"atlascloud": "/api/v1/model/prediction/", "eachlabs": "/v1/prediction/"}
AWAITING = {str(status) for status in AWAITING_PROVIDER}


@dataclass
class StampedGet:
    provider_job_id: str
    #: Our job's status, read through the API just before the GET went out.
    job_status: str


@dataclass
class StatusGetSpy:
    """Stamps every status GET of a watched job with that job's status at the time."""

    api_url: str
    watched: list[str] = field(default_factory=list)
    stamped: list[StampedGet] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(
        self, monkeypatch: pytest.MonkeyPatch, adapter: type[AtlasCloudProvider | EachLabsProvider]
    ) -> None:
        original = adapter.get_prediction

        def get_prediction(
            provider: Any, provider_job_id: str, *, links: Mapping[str, str] | None = None
        ) -> ProviderUpdate:
            self.stamp(provider_job_id)
            return original(provider, provider_job_id, links=links)

        # The in-process Lambdas import the same videojobs modules, so they call this.
        monkeypatch.setattr(adapter, "get_prediction", get_prediction)

    def stamp(self, provider_job_id: str) -> None:
        with httpx.Client(base_url=self.api_url, timeout=10, auth=SigV4()) as api:
            for job_id in list(self.watched):
                view = api.get(f"/jobs/{job_id}").raise_for_status().json()
                if view["provider_job_id"] == provider_job_id:
                    with self._lock:
                        self.stamped.append(StampedGet(provider_job_id, view["status"]))

    def gets_of(self, provider_job_id: str) -> list[StampedGet]:
        with self._lock:
            return [get for get in self.stamped if get.provider_job_id == provider_job_id]


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
def spy(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> StatusGetSpy:
    status_gets = StatusGetSpy(stack.api_url)
    for adapter in ADAPTERS.values():
        status_gets.install(monkeypatch, adapter)
    # The provider answers at once: the webhook leaves as soon as the (cached) clip is there.
    monkeypatch.setattr(stack.simulator, "processing_seconds", 0.0)
    return status_gets


@pytest.mark.usefixtures("rendered_clip")
@pytest.mark.parametrize("provider", list(ADAPTERS))
def test_the_job_finishes_through_its_webhook_alone(
    stack: LocalStack,
    api: httpx.Client,
    sim: httpx.Client,
    wait_for_job: Wait,
    spy: StatusGetSpy,
    provider: str,
) -> None:
    response = api.post("/jobs", json={**JOB, "provider": provider})
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    spy.watched.append(job_id)

    job = wait_for_job(job_id, timeout=30)

    assert job["status"] == "succeeded", job
    prediction_id = job["provider_job_id"]
    record = sim.get(f"/predictions/{prediction_id}").raise_for_status().json()
    # The webhook was delivered once and answered 2xx.
    attempts = record["webhook"]["attempts"]
    assert record["webhook"]["state"] == "delivered"
    assert len(attempts) == 1, attempts
    assert 200 <= attempts[0]["status_code"] < 300, attempts
    # No status GET went out while the job still awaited its provider: the webhook moved it.
    stamped = spy.gets_of(prediction_id)
    early = [get for get in stamped if get.job_status in AWAITING]
    assert early == [], f"status GETs made before the webhook was accepted: {early}"
    # And the simulator saw no GET of the prediction that the stamps do not account for.
    logged = [
        entry
        for entry in sim.get("/requests", params={"provider": provider}).raise_for_status().json()
        if entry["method"] == "GET" and entry["path"].endswith(f"{STATUS_PATHS[provider]}{prediction_id}")
    ]
    assert len(logged) == len(stamped), (logged, stamped)
    # The video is the simulator's, copied to S3.
    video = job["video"]
    stored = stack.client("s3").get_object(Bucket=video["bucket"], Key=video["key"])["Body"].read()
    assert video["sha256"] == record["output_sha256"]
    assert stored[4:8] == b"ftyp"
