"""Provider errors on create, through the local stack: retried, failed, or adopted, never doubled."""

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.stack import LocalStack

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
T2V = {"provider": "eachlabs", "prompt": "a windmill", "resolution": "480p", "duration": 4}


def predictions_for(sim: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """The simulator's jobs whose webhook URL names our job: provider jobs created for it."""
    records: list[dict[str, Any]] = sim.get("/predictions").raise_for_status().json()
    return [record for record in records if job_id in str(record["webhook"].get("url"))]


def creates_for(sim: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = sim.get("/requests", params={"provider": "eachlabs"}).json()
    return [entry for entry in log if entry["method"] == "POST" and job_id in json.dumps(entry["json"])]


def test_a_429_with_retry_after_then_503s_end_succeeded_with_one_provider_job(
    api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post(
        "/faults", json={"reject_creates_with_status": 429, "reject_creates_retry_after": 2}
    ).raise_for_status()
    submitted = api.post("/jobs", json=T2V).json()
    # Once the 429 is spent, a run of 503s.
    deadline = time.monotonic() + 20
    while not creates_for(sim, submitted["job_id"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    sim.post(
        "/faults", json={"reject_creates_with_status": 503, "reject_creates_count": 2}
    ).raise_for_status()
    started = time.monotonic()

    job = wait_for_job(submitted["job_id"], timeout=90)

    assert job["status"] == "succeeded", job
    statuses = [entry["status"] for entry in creates_for(sim, job["job_id"])]
    assert statuses == [429, 503, 503, 200]
    assert len(predictions_for(sim, job["job_id"])) == 1
    assert time.monotonic() - started >= 1  # the backoff waited; nothing hammered the provider


def test_a_400_from_the_provider_fails_the_job_at_once_with_its_reason(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"reject_creates_with_status": 400}).raise_for_status()

    job = wait_for_job(api.post("/jobs", json=T2V).json()["job_id"], timeout=30)

    assert job["status"] == "failed"
    assert job["error"]["code"] == "provider_rejected"
    assert "400" in job["error"]["message"]
    assert [entry["status"] for entry in creates_for(sim, job["job_id"])] == [400]


def test_an_unanswered_create_is_adopted_by_its_webhook_and_never_sent_twice(
    api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"ambiguous_creates": 1}).raise_for_status()

    job = wait_for_job(api.post("/jobs", json=T2V).json()["job_id"], timeout=30)

    assert job["status"] == "succeeded", job
    (prediction,) = predictions_for(sim, job["job_id"])
    assert prediction["ambiguous_create"] is True
    assert job["provider_job_id"] == prediction["id"]
    assert len(creates_for(sim, job["job_id"])) == 1
