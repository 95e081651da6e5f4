"""The Replicate adapter against the simulator, over real HTTP: creates, the account secret fetched once
for every webhook, status reads and the provider's own cancel, each visible in the simulator's log."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from local.simulator import ProviderSimulator
from local.simulator.testing import LoopbackPeer, ReceivedCall, quick_simulator
from videojobs.errors import CancelRefused, ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, ProviderState, ProviderUpdate, WebhookTarget, utc_now
from videojobs.providers.replicate.adapter import ReplicateProvider
from videojobs.standard_webhooks import StandardWebhook

API_KEY = "integration-replicate-key"
SECRET_PATH = "/replicate/v1/webhooks/default/secret"
TEST_HEADER = "x-test-own-call"


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, api_keys={"replicate": API_KEY}) as simulator:
        yield simulator


@pytest.fixture
def replicate(sim: ProviderSimulator) -> Iterator[ReplicateProvider]:
    with httpx.Client(timeout=10) as http:
        yield ReplicateProvider(
            http,
            base_url=sim.provider_base_url("replicate"),
            api_key=SecretStr(API_KEY),
            clock=utc_now,
            max_webhook_age=timedelta(minutes=5),
        )


def request(**fields: object) -> JobRequest:
    return JobRequest.model_validate(
        {"provider": "replicate", "prompt": "a lighthouse", "resolution": "480p", "duration": 4, **fields}
    )


def logged(sim: ProviderSimulator) -> list[tuple[str, str, int]]:
    """The simulator's log of what the adapter sent (the test's own look at the secret left out)."""
    return [
        (entry["method"], entry["path"], entry["status"])
        for entry in sim.requests_for("replicate")
        if TEST_HEADER not in entry["headers"]
    ]


def account_secret(sim: ProviderSimulator) -> str:
    """The account's secret, read the way a Replicate user would, marked as the test's own call."""
    url = f"{sim.provider_base_url('replicate')}/v1/webhooks/default/secret"
    headers = {"Authorization": f"Bearer {API_KEY}", TEST_HEADER: "1"}
    key: str = httpx.get(url, headers=headers, timeout=10).raise_for_status().json()["key"]
    return key


def parse(replicate: ReplicateProvider, call: ReceivedCall) -> ProviderUpdate:
    return replicate.parse_webhook(call.headers, call.body, signing_secret="unused")


def test_jobs_finish_through_signed_webhooks_verified_with_one_fetch_of_the_secret(
    sim: ProviderSimulator, replicate: ReplicateProvider, peer: LoopbackPeer
) -> None:
    webhook = WebhookTarget(url=f"{peer.url}/hook?token=t", signing_secret="unused")
    first = replicate.create_prediction(request(aspect_ratio="auto"), webhook)
    second = replicate.create_prediction(
        request(
            tier="fast",
            first_frame_url="https://cdn.example.com/a.png",
            last_frame_url="https://cdn.example.com/b.png",
        ),
        webhook,
    )

    calls = peer.wait_for(2, timeout=30)
    updates = {update.provider_job_id: update for update in (parse(replicate, call) for call in calls)}

    assert set(updates) == {first.provider_job_id, second.provider_job_id}
    for update in updates.values():
        assert update.state is ProviderState.SUCCEEDED
        assert update.output_url == f"{sim.base_url}/replicate/outputs/{update.provider_job_id}.mp4"
    record = sim.prediction(second.provider_job_id)
    assert record is not None
    assert record.to_json()["request"] == {
        "input": {
            "prompt": "a lighthouse",
            "image": "https://cdn.example.com/a.png",
            "last_frame_image": "https://cdn.example.com/b.png",
            "duration": 4,
            "resolution": "480p",
            "generate_audio": True,
        },
        "webhook": webhook.url,
        "webhook_events_filter": ["completed"],
    }
    assert record.meta["model"] == "bytedance/seedance-2.0-fast"
    fetches = [entry for entry in logged(sim) if entry[1] == SECRET_PATH]
    assert fetches == [("GET", SECRET_PATH, 200)]


def test_a_forged_a_stale_and_a_foreign_signature_are_refused(
    sim: ProviderSimulator, replicate: ReplicateProvider, peer: LoopbackPeer
) -> None:
    replicate.create_prediction(request(), WebhookTarget(url=f"{peer.url}/hook", signing_secret="unused"))
    (call,) = peer.wait_for(1, timeout=30)
    webhook_id, timestamp = call.headers["webhook-id"], int(call.headers["webhook-timestamp"])
    foreign = StandardWebhook("whsec_" + base64.b64encode(b"an account that is not ours 1234").decode())
    account = StandardWebhook(account_secret(sim))

    forged = {**call.headers, "webhook-signature": "v1," + base64.b64encode(bytes(32)).decode()}
    stale = {**call.headers, **account.headers(webhook_id, timestamp - 3600, call.body)}
    resigned = {**call.headers, **foreign.headers(webhook_id, timestamp, call.body)}

    for headers in (forged, stale, resigned):
        with pytest.raises(WebhookUnauthorized):
            replicate.parse_webhook(headers, call.body, signing_secret="unused")
    assert [entry for entry in logged(sim) if entry[1] == SECRET_PATH] == [("GET", SECRET_PATH, 200)]


def test_status_reads_use_the_documented_path(sim: ProviderSimulator, replicate: ReplicateProvider) -> None:
    receipt = replicate.create_prediction(
        request(), WebhookTarget(url="http://127.0.0.1:9/x", signing_secret="s")
    )
    sim.wait_for_prediction(receipt.provider_job_id, timeout=30)

    update = replicate.get_prediction(receipt.provider_job_id)

    assert update.state is ProviderState.SUCCEEDED
    assert ("GET", f"/replicate/v1/predictions/{receipt.provider_job_id}", 200) in logged(sim)


def test_cancel_uses_the_providers_own_cancel_call(
    sim: ProviderSimulator, replicate: ReplicateProvider
) -> None:
    sim.faults.hold_in_queue = True
    receipt = replicate.create_prediction(
        request(), WebhookTarget(url="http://127.0.0.1:9/x", signing_secret="s")
    )

    replicate.cancel(receipt.provider_job_id)

    assert ("POST", f"/replicate/v1/predictions/{receipt.provider_job_id}/cancel", 200) in logged(sim)
    assert replicate.get_prediction(receipt.provider_job_id).state is ProviderState.FAILED
    record = sim.prediction(receipt.provider_job_id)
    assert record is not None
    assert record.status.value == "cancelled"


def test_cancelling_a_finished_prediction_is_refused(
    sim: ProviderSimulator, replicate: ReplicateProvider
) -> None:
    receipt = replicate.create_prediction(
        request(), WebhookTarget(url="http://127.0.0.1:9/x", signing_secret="s")
    )
    sim.wait_for_prediction(receipt.provider_job_id, timeout=30)

    with pytest.raises(CancelRefused, match="succeeded"):
        replicate.cancel(receipt.provider_job_id)


def test_the_simulators_422_is_a_provider_error_that_is_not_retried(
    sim: ProviderSimulator, replicate: ReplicateProvider
) -> None:
    with pytest.raises(ProviderError) as raised:
        replicate.create_prediction(
            request(tier="fast", resolution="1080p"),
            WebhookTarget(url="http://127.0.0.1:9/x", signing_secret="s"),
        )

    assert (raised.value.status_code, raised.value.retryable) == (422, False)
    assert "input.resolution" in str(raised.value)


def test_a_lost_create_answer_is_ambiguous(sim: ProviderSimulator, replicate: ReplicateProvider) -> None:
    sim.faults.ambiguous_creates = 1

    with pytest.raises(ProviderError) as raised:
        replicate.create_prediction(request(), WebhookTarget(url="http://127.0.0.1:9/x", signing_secret="s"))

    assert raised.value.ambiguous
    assert [job.ambiguous_create for job in sim.predictions()] == [True]
