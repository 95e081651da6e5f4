"""The Atlas Cloud, gateway and jobs API adapters against the simulator, over real loopback HTTP."""

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from local.simulator import DEFAULT_API_KEYS, ProviderSimulator
from local.simulator.testing import LoopbackPeer, poll, quick_simulator
from tests.support import SteppedClock
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.download_policy import HostAllowlist
from videojobs.errors import ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, ProviderState, ProviderUpdate, WebhookTarget, utc_now
from videojobs.ports import Clock, MediaFile, VideoProvider
from videojobs.providers.atlascloud.adapter import AtlasCloudProvider
from videojobs.providers.gateway.adapter import GatewayProvider
from videojobs.providers.jobs_api.adapter import JobsApiProvider

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
LOCAL_ONLY = HostAllowlist([], allow_loopback=True)


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir) as simulator:
        yield simulator


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def atlas(sim: ProviderSimulator, client: httpx.Client, clock: Clock = utc_now) -> AtlasCloudProvider:
    base_url = sim.provider_base_url("atlascloud")
    return AtlasCloudProvider(
        client,
        base_url=base_url,
        api_key=SecretStr(DEFAULT_API_KEYS["atlascloud"]),
        jwks_url=f"{base_url}/api/v1/webhooks/jwks.json",
        clock=clock,
        max_webhook_age=timedelta(minutes=5),
    )


def bearer_provider(
    kind: type[GatewayProvider] | type[JobsApiProvider], sim: ProviderSimulator, client: httpx.Client
) -> VideoProvider:
    base_url, api_key = sim.provider_base_url(kind.name), SecretStr(DEFAULT_API_KEYS[kind.name])
    if kind is GatewayProvider:
        return GatewayProvider(client, base_url=base_url, api_key=api_key, default_tier="standard")
    return kind(client, base_url=base_url, api_key=api_key)


def finished(provider: VideoProvider, provider_job_id: str) -> ProviderUpdate:
    return poll(
        lambda: provider.get_prediction(provider_job_id),
        lambda update: update.state is not ProviderState.PROCESSING,
        timeout=30,
    )


def downloaded(url: str, client: httpx.Client) -> bytes:
    with HttpVideoSource(client).open(url, LOCAL_ONLY) as download:
        return b"".join(download.chunks)


def test_atlas_text_to_video_webhook_verifies_with_the_published_key_and_matches_the_status(
    sim: ProviderSimulator, http_client: httpx.Client, peer: LoopbackPeer
) -> None:
    provider = atlas(sim, http_client)
    request = JobRequest(provider="atlascloud", prompt="p", resolution="480p", duration=4, aspect_ratio="1:1")

    receipt = provider.create_prediction(request, WebhookTarget(url=f"{peer.url}/hook", signing_secret="x"))

    (call,) = peer.wait_for(1, timeout=30)
    from_webhook = provider.parse_webhook(call.headers, call.body, signing_secret="unused")
    from_status = finished(provider, receipt.provider_job_id)
    assert from_webhook == from_status
    assert from_webhook.state is ProviderState.SUCCEEDED
    assert from_webhook.output_url is not None
    data = downloaded(from_webhook.output_url, http_client)
    assert hashlib.sha256(data).hexdigest() == sim.wait_for_prediction(receipt.provider_job_id).output_sha256


def test_atlas_failed_prediction_webhook_says_failed_with_the_same_message_as_the_status(
    sim: ProviderSimulator, http_client: httpx.Client, peer: LoopbackPeer
) -> None:
    sim.faults.fail_predictions = 1
    provider = atlas(sim, http_client)
    request = JobRequest(provider="atlascloud", prompt="p", resolution="480p", duration=4)

    receipt = provider.create_prediction(request, WebhookTarget(url=f"{peer.url}/hook", signing_secret="x"))

    (call,) = peer.wait_for(1, timeout=30)
    assert call.json()["status"] == "ERROR"
    from_webhook = provider.parse_webhook(call.headers, call.body, signing_secret="unused")
    from_status = finished(provider, receipt.provider_job_id)
    assert from_webhook == from_status
    assert from_webhook.state is ProviderState.FAILED
    assert from_webhook.error_message


def test_atlas_picks_up_a_rotated_key_and_refuses_a_tampered_body(
    sim: ProviderSimulator, http_client: httpx.Client, peer: LoopbackPeer
) -> None:
    clock = SteppedClock()
    provider = atlas(sim, http_client, clock)
    request = JobRequest(provider="atlascloud", prompt="p", resolution="480p", duration=4)
    hook = WebhookTarget(url=f"{peer.url}/hook", signing_secret="x")
    provider.create_prediction(request, hook)
    first = peer.wait_for(1, timeout=30)[0]
    provider.parse_webhook(first.headers, first.body, signing_secret="x")

    new_kid = sim.rotate_signing_key()
    provider.create_prediction(request, hook)
    second = peer.wait_for(2, timeout=30)[1]
    clock.advance(1)  # the adapter refetches keys at most once a second

    assert second.headers["x-atlascloud-webhook-key-id"] == new_kid
    assert (
        provider.parse_webhook(second.headers, second.body, signing_secret="x").state
        is ProviderState.SUCCEEDED
    )
    with pytest.raises(WebhookUnauthorized):
        provider.parse_webhook(
            second.headers, second.body.replace(b"completed", b"failed"), signing_secret="x"
        )


def test_atlas_uploads_stream_and_come_back_byte_for_byte(
    sim: ProviderSimulator, http_client: httpx.Client
) -> None:
    media = MediaFile(
        filename="start.png",
        content_type="image/png",
        kind="image",
        size_bytes=len(PNG),
        chunks=[PNG[:100], PNG[100:]],
    )

    url = atlas(sim, http_client).upload_media(media)

    assert http_client.get(url).content == PNG


def test_the_gateway_task_runs_to_completed_with_a_last_frame_and_never_calls_back(
    sim: ProviderSimulator, http_client: httpx.Client, peer: LoopbackPeer
) -> None:
    provider = bearer_provider(GatewayProvider, sim, http_client)
    request = JobRequest(
        provider="gateway", prompt="p", tier="mini", resolution="480p", duration=5, return_last_frame=True
    )

    receipt = provider.create_prediction(request, WebhookTarget(url=f"{peer.url}/hook", signing_secret="x"))
    first = provider.get_prediction(receipt.provider_job_id)
    update = finished(provider, receipt.provider_job_id)

    assert first.state is ProviderState.PROCESSING
    assert update.state is ProviderState.SUCCEEDED
    assert update.output_url is not None
    assert update.last_frame_url is not None
    assert downloaded(update.output_url, http_client)[4:8] == b"ftyp"
    assert downloaded(update.last_frame_url, http_client).startswith(b"\x89PNG")
    assert peer.calls() == []
    assert sim.requests_for("gateway")[0]["json"]["model"] == "seedance2.0-mini-480p"


def test_a_gateway_refusal_names_the_field_and_is_not_retryable(
    sim: ProviderSimulator, http_client: httpx.Client
) -> None:
    provider = bearer_provider(GatewayProvider, sim, http_client)
    # Past our own checks on purpose: what the gateway itself says about a duration it does not take.
    request = JobRequest(provider="gateway", prompt="p").model_copy(update={"duration": 4})

    with pytest.raises(ProviderError) as refused:
        provider.create_prediction(request, WebhookTarget(url="https://example.com/h", signing_secret="x"))

    assert refused.value.retryable is False
    assert refused.value.status_code == 400
    assert "duration" in str(refused.value)


def test_the_jobs_api_callback_and_the_status_agree(
    sim: ProviderSimulator, http_client: httpx.Client, peer: LoopbackPeer
) -> None:
    provider = bearer_provider(JobsApiProvider, sim, http_client)
    request = JobRequest(provider="jobs_api", prompt="p", resolution="480p", duration=4, seed=9)

    receipt = provider.create_prediction(
        request, WebhookTarget(url=f"{peer.url}/cb?token=t", signing_secret="x")
    )

    (call,) = peer.wait_for(1, timeout=30)
    assert call.path == "/cb?token=t"
    assert provider.parse_webhook(call.headers, call.body, signing_secret="x") == finished(
        provider, receipt.provider_job_id
    )


def test_jobs_api_uploads_carry_their_kind_and_come_back(
    sim: ProviderSimulator, http_client: httpx.Client
) -> None:
    provider = bearer_provider(JobsApiProvider, sim, http_client)
    media = MediaFile(
        filename="ref.png", content_type="image/png", kind="image", size_bytes=len(PNG), chunks=[PNG]
    )

    url = provider.upload_media(media)  # type: ignore[attr-defined]

    assert http_client.get(url).content == PNG
    (upload,) = [r for r in sim.requests_for("jobs_api") if r["path"].endswith("/v1/files/upload")]
    assert upload["status"] == 200
