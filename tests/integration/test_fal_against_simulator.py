"""The fal.ai adapter against the simulator, over real loopback HTTP: submit, the queue's own URLs,
signed webhooks checked against the simulator's JWKS (rotation included), cancel with fal's own
``PUT cancel_url`` (seen in the request log), and a submit whose answer is lost is never sent twice."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from local.simulator import DEFAULT_API_KEYS, JobStatus, ProviderSimulator
from local.simulator.testing import LoopbackPeer, ReceivedCall, poll, quick_simulator
from tests.support import SteppedClock
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.download_policy import HostAllowlist
from videojobs.errors import CancelRefused, ProviderError, WebhookUnauthorized
from videojobs.models import (
    JobRequest,
    ProviderReceipt,
    ProviderState,
    ProviderUpdate,
    WebhookTarget,
)
from videojobs.providers.fal.adapter import FalProvider

LOCAL_ONLY = HostAllowlist([], allow_loopback=True)
REQUESTS = "/fal/bytedance/seedance-2.0/requests"


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, processing_seconds=0.3) as simulator:
        yield simulator


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture
def fal(sim: ProviderSimulator, http_client: httpx.Client, clock: SteppedClock) -> FalProvider:
    settings = sim.pipeline_settings("fal")
    return FalProvider(
        http_client,
        base_url=settings["FAL_BASE_URL"],
        api_key=SecretStr(DEFAULT_API_KEYS["fal"]),
        jwks_url=settings["FAL_JWKS_URL"],
        clock=clock,
        max_webhook_age=timedelta(minutes=5),
    )


def target(peer: LoopbackPeer) -> WebhookTarget:
    return WebhookTarget(url=f"{peer.url}/webhooks/fal/j1?token=t.1", signing_secret="unused")


def finished(fal: FalProvider, receipt: ProviderReceipt, *, links: bool = True) -> ProviderUpdate:
    return poll(
        lambda: fal.get_prediction(receipt.provider_job_id, links=receipt.links if links else None),
        lambda update: update.state is not ProviderState.PROCESSING,
        timeout=30,
    )


def webhook_update(fal: FalProvider, call: ReceivedCall) -> ProviderUpdate:
    return fal.parse_webhook(call.headers, call.body, signing_secret="unused")


def test_text_to_video_webhook_verifies_and_matches_the_status_and_the_video_plays(
    fal: FalProvider, sim: ProviderSimulator, peer: LoopbackPeer, http_client: httpx.Client
) -> None:
    request = JobRequest(
        provider="fal", prompt="a lighthouse", resolution="480p", duration=4, aspect_ratio="1:1"
    )

    receipt = fal.create_prediction(request, target(peer))
    (call,) = peer.wait_for(1, timeout=30)
    update = webhook_update(fal, call)
    polled = finished(fal, receipt)

    assert set(receipt.links) == {"status_url", "response_url", "cancel_url"}
    assert call.path == "/webhooks/fal/j1?token=t.1"
    assert (update.provider_job_id, update.state) == (receipt.provider_job_id, ProviderState.SUCCEEDED)
    assert polled == update
    with HttpVideoSource(http_client).open(update.output_url or "", LOCAL_ONLY) as download:
        assert b"ftyp" in b"".join(download.chunks)[:16]
    (submitted,) = [logged for logged in sim.requests_for("fal") if logged["method"] == "POST"]
    assert submitted["path"] == "/fal/bytedance/seedance-2.0/text-to-video"
    assert submitted["query"] == {"fal_webhook": target(peer).url}
    assert submitted["json"] == {
        "prompt": "a lighthouse",
        "resolution": "480p",
        "duration": "4",
        "aspect_ratio": "1:1",
        "generate_audio": True,
    }


@pytest.mark.parametrize(
    ("fields", "endpoint"),
    [
        (
            {
                "tier": "fast",
                "first_frame_url": "https://cdn.example.com/a.png",
                "last_frame_url": "https://cdn.example.com/b.png",
            },
            "fast/image-to-video",
        ),
        (
            {
                "resolution": "1080p",
                "reference_image_urls": ["https://cdn.example.com/1.png"],
                "reference_video_urls": ["https://cdn.example.com/v.mp4"],
                "reference_audio_urls": ["https://cdn.example.com/a.mp3"],
            },
            "reference-to-video",
        ),
    ],
)
def test_frames_and_references_reach_their_endpoints_and_succeed(
    fal: FalProvider, sim: ProviderSimulator, peer: LoopbackPeer, fields: dict[str, object], endpoint: str
) -> None:
    request = JobRequest.model_validate({"provider": "fal", "prompt": "p", "duration": 4, **fields})

    receipt = fal.create_prediction(request, target(peer))

    assert finished(fal, receipt).state is ProviderState.SUCCEEDED
    (submitted,) = [logged for logged in sim.requests_for("fal") if logged["method"] == "POST"]
    assert submitted["path"] == f"/fal/bytedance/seedance-2.0/{endpoint}"


def test_a_job_adopted_by_its_webhook_is_followed_through_the_urls_built_from_owner_and_app(
    fal: FalProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    receipt = fal.create_prediction(
        JobRequest(provider="fal", prompt="p", tier="fast", resolution="480p"), target(peer)
    )

    update = finished(fal, receipt, links=False)

    assert update.state is ProviderState.SUCCEEDED
    reads = [logged["path"] for logged in sim.requests_for("fal") if logged["method"] == "GET"]
    assert f"{REQUESTS}/{receipt.provider_job_id}/status" in reads
    assert f"{REQUESTS}/{receipt.provider_job_id}" in reads


def test_a_failed_generation_fails_by_webhook_and_by_status_alike(
    fal: FalProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    sim.faults.fail_predictions = 1

    receipt = fal.create_prediction(JobRequest(provider="fal", prompt="p", resolution="480p"), target(peer))
    (call,) = peer.wait_for(1, timeout=30)
    update = webhook_update(fal, call)
    polled = finished(fal, receipt)

    assert (update.state, polled.state) == (ProviderState.FAILED, ProviderState.FAILED)
    assert "Invalid status code: 500" in (update.error_message or "")
    assert (polled.error_message or "").startswith("runner_server_error: ")


def test_a_rotated_key_is_picked_up_and_a_tampered_or_stale_webhook_is_refused(
    fal: FalProvider, sim: ProviderSimulator, peer: LoopbackPeer, clock: SteppedClock
) -> None:
    request = JobRequest(provider="fal", prompt="p", resolution="480p")
    fal.create_prediction(request, target(peer))
    (first,) = peer.wait_for(1, timeout=30)
    assert webhook_update(fal, first).state is ProviderState.SUCCEEDED

    sim.rotate_signing_key()
    clock.advance(1)  # the adapter refetches the JWKS at most once a second
    fal.create_prediction(request, target(peer))
    second = peer.wait_for(2, timeout=30)[1]

    assert webhook_update(fal, second).state is ProviderState.SUCCEEDED  # the refetched JWKS has the new key
    with pytest.raises(WebhookUnauthorized):
        fal.parse_webhook(second.headers, second.body.replace(b'"OK"', b'"ERROR"'), signing_secret="")
    stale = {
        **second.headers,
        "x-fal-webhook-timestamp": str(int(second.headers["x-fal-webhook-timestamp"]) - 301),
    }
    with pytest.raises(WebhookUnauthorized):
        fal.parse_webhook(stale, second.body, signing_secret="")


def test_cancel_uses_fals_own_put_on_the_stored_cancel_url(
    fal: FalProvider, sim: ProviderSimulator, peer: LoopbackPeer, http_client: httpx.Client
) -> None:
    http_client.post(f"{sim.base_url}/_sim/faults", json={"hold_in_queue": True}).raise_for_status()
    receipt = fal.create_prediction(JobRequest(provider="fal", prompt="p", resolution="480p"), target(peer))

    fal.cancel(receipt.provider_job_id, links=receipt.links)
    (call,) = peer.wait_for(1, timeout=30)

    (cancel,) = [logged for logged in sim.requests_for("fal") if logged["method"] == "PUT"]
    assert cancel["path"] == f"{REQUESTS}/{receipt.provider_job_id}/cancel"
    assert cancel["status"] == 202
    assert sim.prediction(receipt.provider_job_id).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    assert webhook_update(fal, call).state is ProviderState.FAILED
    assert finished(fal, receipt).error_message == "client_cancelled: Request was cancelled"
    with pytest.raises(CancelRefused, match="already completed"):
        fal.cancel(receipt.provider_job_id, links=receipt.links)


def test_a_submit_whose_answer_is_lost_is_ambiguous_and_sent_once_though_the_job_runs(
    fal: FalProvider, sim: ProviderSimulator, peer: LoopbackPeer
) -> None:
    sim.faults.ambiguous_creates = 1

    with pytest.raises(ProviderError) as raised:
        fal.create_prediction(JobRequest(provider="fal", prompt="p", resolution="480p"), target(peer))
    (call,) = peer.wait_for(1, timeout=30)

    assert (raised.value.ambiguous, raised.value.retryable) == (True, True)
    assert len([logged for logged in sim.requests_for("fal") if logged["method"] == "POST"]) == 1
    adopted = webhook_update(fal, call)
    assert adopted.state is ProviderState.SUCCEEDED
    assert sim.prediction(adopted.provider_job_id) is not None


@pytest.mark.parametrize(("status", "ambiguous"), [(502, True), (504, True), (503, False), (429, False)])
def test_gateway_errors_on_submit_are_never_retried_here(
    fal: FalProvider, sim: ProviderSimulator, peer: LoopbackPeer, status: int, ambiguous: bool
) -> None:
    sim.faults.reject_creates_with_status = status

    with pytest.raises(ProviderError) as raised:
        fal.create_prediction(JobRequest(provider="fal", prompt="p"), target(peer))

    assert (raised.value.status_code, raised.value.ambiguous) == (status, ambiguous)
    assert len(sim.requests_for("fal")) == 1
