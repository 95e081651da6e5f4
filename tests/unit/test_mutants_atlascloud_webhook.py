"""Survivors of `make mutate` in Atlas Cloud's webhook check: any one of the envelope's fields makes a
body an envelope, and a delivery exactly as old as the window is accepted."""

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr

from tests.support import FixedClock
from videojobs.errors import InvalidWebhook
from videojobs.models import ProviderState, ProviderUpdate
from videojobs.providers.atlascloud.adapter import AtlasCloudProvider

JWKS_URL = "https://api.atlascloud.ai/api/v1/webhooks/jwks.json"
KEY = Ed25519PrivateKey.generate()
JWK = {
    "kty": "OKP",
    "crv": "Ed25519",
    "kid": "k1",
    "x": base64.urlsafe_b64encode(KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    .rstrip(b"=")
    .decode(),
}
OUTPUT = "https://storage.atlascloud.ai/outputs/result.mp4"


def deliver(document: dict[str, Any], *, age_seconds: int = 0) -> ProviderUpdate:
    clock = FixedClock()
    atlas = AtlasCloudProvider(
        httpx.Client(
            transport=httpx.MockTransport(lambda request: httpx.Response(200, json={"keys": [JWK]}))
        ),
        base_url="https://api.atlascloud.ai/",
        api_key=SecretStr("atlas-key"),
        jwks_url=JWKS_URL,
        clock=clock,
        max_webhook_age=timedelta(minutes=5),
    )
    body = json.dumps(document).encode()
    timestamp = int(clock.now.timestamp()) - age_seconds
    signature = base64.urlsafe_b64encode(KEY.sign(f"{timestamp}.".encode() + body)).rstrip(b"=").decode()
    headers = {
        "X-AtlasCloud-Webhook-Timestamp": str(timestamp),
        "X-AtlasCloud-Webhook-Key-Id": "k1",
        "X-AtlasCloud-Webhook-Signature-Ed25519": signature,
    }
    return atlas.parse_webhook(headers, body, signing_secret="unused")


def test_a_session_id_alone_makes_an_envelope() -> None:
    # Read as a bare prediction, this body names no prediction.
    update = deliver({"session_id": "p1", "status": "OK"})

    assert (update.provider_job_id, update.state) == ("p1", ProviderState.SUCCEEDED)


def test_a_payload_alone_makes_an_envelope() -> None:
    update = deliver({"payload": {"id": "p1", "status": "completed", "outputs": [OUTPUT]}})

    assert (update.provider_job_id, update.state, update.output_url) == (
        "p1",
        ProviderState.SUCCEEDED,
        OUTPUT,
    )


def test_an_event_type_alone_makes_an_envelope_so_an_id_beside_it_is_not_read() -> None:
    # Read as a bare prediction, this body would be p1's success.
    with pytest.raises(InvalidWebhook):
        deliver({"event_type": "video.task.terminal", "id": "p1", "status": "completed", "outputs": [OUTPUT]})


def test_a_delivery_exactly_as_old_as_the_window_is_accepted() -> None:
    update = deliver({"session_id": "p1", "status": "OK"}, age_seconds=300)

    assert update.state is ProviderState.SUCCEEDED
