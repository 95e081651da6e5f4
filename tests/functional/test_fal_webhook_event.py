"""events/fal_webhook.json through the callback handler, with the real fal adapter and a JWKS served by
httpx.MockTransport: a signed webhook starts the transfer; a forged, stale or unknown-key one is 401
and changes nothing."""

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr

from functions.callback import app as callback
from tests.support import FakeLambdaContext, FakeWorld, load_event
from videojobs.models import Job, JobRequest, JobStatus
from videojobs.providers.fal.adapter import FalProvider

JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
FAL_KEY = Ed25519PrivateKey.generate()


def jwks(request: httpx.Request) -> httpx.Response:
    """fal's JWKS: OKP/Ed25519 entries, the public key base64url in ``x``, no key id."""
    assert str(request.url) == JWKS_URL
    raw = FAL_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    encoded = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return httpx.Response(200, json={"keys": [{"kty": "OKP", "crv": "Ed25519", "x": encoded}]})


def fal_world() -> FakeWorld:
    world = FakeWorld()
    world.providers["fal"] = FalProvider(  # type: ignore[assignment]
        httpx.Client(transport=httpx.MockTransport(jwks)),
        base_url="https://queue.fal.run",
        api_key=SecretStr("k"),
        jwks_url=JWKS_URL,
        clock=world.clock,
        max_webhook_age=timedelta(minutes=5),
    )
    return world


def stored_job(world: FakeWorld, request_id: str) -> Job:
    job = Job.new(JobRequest(provider="fal", prompt="p"), now=world.clock(), retention=timedelta(days=1))
    world.jobs.create_if_absent(
        job.model_copy(update={"status": JobStatus.SUBMITTED, "provider_job_id": request_id})
    )
    return world.jobs.jobs[job.job_id]


def fal_event(
    world: FakeWorld, job: Job, *, age_seconds: int = 0, key: Ed25519PrivateKey = FAL_KEY
) -> dict[str, Any]:
    """The events/ sample, pointed at ``job``, its output moved to an allowed host, and signed."""
    event = load_event("fal_webhook")
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/webhooks/fal/{job.job_id}"
    event["pathParameters"]["job_id"] = job.job_id
    token = world.authenticator.token_for(job.job_id)
    event["queryStringParameters"] = {"token": token}
    event["rawQueryString"] = f"token={token}"
    payload = json.loads(event["body"])
    payload["payload"]["video"]["url"] = "https://cdn.example.com/out.mp4"
    event["body"] = json.dumps(payload)
    timestamp = str(int(world.clock().timestamp()) - age_seconds)
    headers = event["headers"]
    headers["x-fal-webhook-user-id"] = "user-42"
    headers["x-fal-webhook-timestamp"] = timestamp
    digest = hashlib.sha256(event["body"].encode()).hexdigest()
    message = f"{headers['x-fal-webhook-request-id']}\nuser-42\n{timestamp}\n{digest}".encode()
    headers["x-fal-webhook-signature"] = key.sign(message).hex()
    return event


def test_the_fal_webhook_event_starts_the_transfer() -> None:
    world = fal_world()
    event = load_event("fal_webhook")
    job = stored_job(world, json.loads(event["body"])["request_id"])

    response = callback.lambda_handler(fal_event(world, job), FakeLambdaContext(), deps=world.deps())

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "job_id": job.job_id,
        "status": "transferring",
        "effect": "applied",
    }
    assert [transfer.source_url for transfer in world.transfers.sent] == ["https://cdn.example.com/out.mp4"]


@pytest.mark.parametrize("tamper", ["forged", "stale", "unknown key"])
def test_a_forged_stale_or_unknown_key_fal_webhook_is_401_and_changes_nothing(tamper: str) -> None:
    world = fal_world()
    job = stored_job(world, json.loads(load_event("fal_webhook")["body"])["request_id"])
    if tamper == "forged":
        event = fal_event(world, job)
        event["headers"]["x-fal-webhook-signature"] = "ab" * 64
    elif tamper == "stale":
        event = fal_event(world, job, age_seconds=301)
    else:
        event = fal_event(world, job, key=Ed25519PrivateKey.generate())
    writes = world.jobs.writes

    response = callback.lambda_handler(event, FakeLambdaContext(), deps=world.deps())

    assert response["statusCode"] == 401
    assert json.loads(response["body"])["error"]["code"] == "unauthorized"
    assert world.jobs.writes == writes
    assert world.jobs.jobs[job.job_id].status is JobStatus.SUBMITTED
    assert world.transfers.sent == []
