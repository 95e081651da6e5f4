"""The provider simulator speaks fal.ai's queue (docs/provider-dialects.md, "fal.ai") over real HTTP:
the queue page's submit/status/result/cancel, the model pages' inputs, the webhooks page's body and
Ed25519 signature."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from local.simulator import JobStatus, ProviderSimulator
from local.simulator.testing import LoopbackPeer, ReceivedCall, client, poll, quick_simulator, video_facts

API_KEY = "test-fal-key"
APP = "/bytedance/seedance-2.0"
T2V, I2V, R2V = f"{APP}/text-to-video", f"{APP}/image-to-video", f"{APP}/reference-to-video"
FAST_T2V = f"{APP}/fast/text-to-video"
JWKS = "/.well-known/jwks.json"
SUBMIT_KEYS = {
    "request_id",
    "gateway_request_id",
    "response_url",
    "status_url",
    "cancel_url",
    "status",
    "queue_position",
}
WEBHOOK_KEYS = {"request_id", "gateway_request_id", "status", "payload"}


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, api_keys={"fal": API_KEY}, processing_seconds=0.3) as simulator:
        yield simulator


@pytest.fixture
def api(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with client(sim.provider_base_url("fal")) as api_client:
        api_client.headers["Authorization"] = f"Key {API_KEY}"
        yield api_client


def submit(api: httpx.Client, path: str = T2V, webhook: str | None = None, **body: Any) -> dict[str, Any]:
    params = {"fal_webhook": webhook} if webhook is not None else None
    response = api.post(
        path, json={"prompt": "A lighthouse at dusk", "resolution": "480p", **body}, params=params
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def completed(api: httpx.Client, queued: dict[str, Any]) -> dict[str, Any]:
    status: dict[str, Any] = poll(
        lambda: api.get(queued["status_url"]).json(), lambda s: s["status"] == "COMPLETED"
    )
    return status


def jwks_keys(http: httpx.Client, sim: ProviderSimulator) -> list[dict[str, str]]:
    keys: list[dict[str, str]] = http.get(f"{sim.provider_base_url('fal')}{JWKS}").json()["keys"]
    return keys


def verifies(keys: list[dict[str, str]], webhook: ReceivedCall) -> bool:
    """fal's verification steps: the message from the headers and the body's hash, any key of the JWKS."""
    headers = webhook.headers
    message = "\n".join(
        (
            headers["x-fal-webhook-request-id"],
            headers["x-fal-webhook-user-id"],
            headers["x-fal-webhook-timestamp"],
            hashlib.sha256(webhook.body).hexdigest(),
        )
    ).encode()
    signature = bytes.fromhex(headers["x-fal-webhook-signature"])
    for jwk in keys:
        key = Ed25519PublicKey.from_public_bytes(
            base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        )
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


# -- submit, status, result -------------------------------------------------------------------------------
def test_submit_answers_the_request_id_and_the_queue_urls_under_owner_and_app(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    queued = submit(api, FAST_T2V)

    assert set(queued) == SUBMIT_KEYS
    request_id = queued["request_id"]
    assert str(uuid.UUID(request_id)) == request_id
    assert queued["gateway_request_id"] == request_id
    base = f"{sim.provider_base_url('fal')}{APP}/requests/{request_id}"
    assert (queued["response_url"], queued["status_url"], queued["cancel_url"]) == (
        base,
        f"{base}/status",
        f"{base}/cancel",
    )
    assert (queued["status"], queued["queue_position"]) == ("IN_QUEUE", 0)


def test_a_request_is_in_progress_then_completed_with_a_real_mp4(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    queued = submit(api, duration="4", aspect_ratio="9:16")

    first = api.get(queued["status_url"])
    final = completed(api, queued)
    result = api.get(queued["response_url"])

    assert (first.status_code, first.json()["status"]) == (202, "IN_PROGRESS")
    assert first.json()["response_url"] == queued["response_url"]
    assert set(final) == {"status", "response_url", "metrics"}
    assert final["metrics"]["inference_time"] >= 0
    assert result.status_code == 200
    video = result.json()["video"]
    assert set(result.json()) == {"video", "seed"}
    assert (video["content_type"], video["file_name"]) == ("video/mp4", f"{queued['request_id']}.mp4")
    download = http.get(video["url"])
    facts = video_facts(download.content)
    assert (facts.brand, facts.width, facts.height) == (b"ftyp", 480, 854)
    assert video["file_size"] == len(download.content)
    assert 3.5 <= facts.duration_seconds <= 4.5


def test_the_status_answers_202_until_completed_then_200_and_logs_only_when_asked(api: httpx.Client) -> None:
    queued = submit(api)

    assert "logs" not in api.get(queued["status_url"]).json()
    assert api.get(queued["status_url"], params={"logs": "1"}).json()["logs"] == []
    completed(api, queued)
    assert api.get(queued["status_url"]).status_code == 200


def test_the_result_of_a_request_still_running_is_400(api: httpx.Client) -> None:
    queued = submit(api)

    early = api.get(queued["response_url"])

    assert early.status_code == 400
    assert early.json() == {"detail": "Request is still in progress"}


def test_a_seed_given_is_the_seed_returned(api: httpx.Client) -> None:
    queued = submit(api, seed=1234)
    completed(api, queued)

    assert api.get(queued["response_url"]).json()["seed"] == 1234


@pytest.mark.parametrize(
    "path", [T2V, I2V, R2V, FAST_T2V, f"{APP}/fast/image-to-video", f"{APP}/fast/reference-to-video"]
)
def test_the_six_endpoints_take_a_submit(api: httpx.Client, path: str) -> None:
    extra: dict[str, Any] = {}
    if "image-to-video" in path:
        extra = {
            "image_url": "https://cdn.example.com/a.png",
            "end_image_url": "https://cdn.example.com/b.png",
        }
    if "reference-to-video" in path:
        extra = {
            "image_urls": ["https://cdn.example.com/1.png"],
            "video_urls": ["https://cdn.example.com/v.mp4"],
        }

    queued = submit(api, path, **extra)

    assert "error" not in completed(api, queued)


def test_status_and_results_are_not_served_under_an_endpoint_subpath(api: httpx.Client) -> None:
    queued = submit(api, FAST_T2V)

    assert api.get(f"{APP}/fast/requests/{queued['request_id']}/status").status_code == 404
    assert api.get(f"{APP}/requests/{uuid.uuid4()}/status").status_code == 404


# -- the gateway refuses at once --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {API_KEY}", "Key wrong-key", "Key"],
    ids=["missing", "bearer scheme", "wrong key", "no key"],
)
def test_only_authorization_key_with_the_key_is_let_in(
    sim: ProviderSimulator, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    with client(sim.provider_base_url("fal")) as plain:
        refused = plain.post(T2V, json={"prompt": "p"}, headers=headers)

    assert refused.status_code == 401
    assert set(refused.json()) == {"detail"}
    assert sim.predictions() == []


def test_unknown_endpoints_a_bad_body_and_a_bad_fal_webhook_are_refused_at_once(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    assert api.post(f"{APP}/video-to-video", json={"prompt": "p"}).status_code == 404
    assert api.post(f"{APP}/fast/fast/text-to-video", json={"prompt": "p"}).status_code == 404
    assert api.get(T2V).status_code == 405
    assert api.post(T2V, content=b"not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert api.post(T2V, json=["p"]).status_code == 400
    assert api.post(T2V, json={"prompt": "p"}, params={"fal_webhook": "not a url"}).status_code == 422
    assert sim.predictions() == []


# -- the model refuses later ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "location"),
    [
        (T2V, {"prompt": None}, ["body", "prompt"]),
        (T2V, {"duration": 5}, ["body", "duration"]),
        (T2V, {"duration": "3"}, ["body", "duration"]),
        (FAST_T2V, {"resolution": "1080p"}, ["body", "resolution"]),
        (T2V, {"resolution": "4k"}, ["body", "resolution"]),
        (T2V, {"aspect_ratio": "2:1"}, ["body", "aspect_ratio"]),
        (T2V, {"image_url": "https://cdn.example.com/a.png"}, ["body", "image_url"]),
        (T2V, {"end_user_id": "u1"}, ["body", "end_user_id"]),
        (I2V, {}, ["body", "image_url"]),
        (
            R2V,
            {"image_urls": [f"https://cdn.example.com/{n}.png" for n in range(10)]},
            ["body", "image_urls"],
        ),
        (
            R2V,
            {
                "image_urls": [f"https://cdn.example.com/{n}.png" for n in range(9)],
                "video_urls": ["https://cdn.example.com/v.mp4"],
                "audio_urls": [f"https://cdn.example.com/{n}.mp3" for n in range(3)],
            },
            ["body", "image_urls"],
        ),
        (R2V, {"audio_urls": ["https://cdn.example.com/a.mp3"]}, ["body", "audio_urls"]),
        (I2V, {"image_url": "http://127.0.0.1:9/a.png"}, ["body", "image_url"]),
    ],
    ids=[
        "no prompt",
        "duration not a string",
        "duration out of range",
        "1080p on fast",
        "4k",
        "aspect ratio",
        "a frame for text-to-video",
        "end_user_id off fast text-to-video",
        "no image_url",
        "ten images",
        "thirteen files",
        "audio alone",
        "unreachable media",
    ],
)
def test_input_the_model_refuses_is_queued_then_fails_with_a_422(
    api: httpx.Client, peer: LoopbackPeer, path: str, body: dict[str, Any], location: list[str]
) -> None:
    queued = submit(api, path, webhook=f"{peer.url}/hook", **body)

    status = completed(api, queued)
    result = api.get(queued["response_url"])
    (webhook,) = peer.wait_for(1)

    assert (status["error"], status["error_type"]) == ("Invalid status code: 422", None)
    assert result.status_code == 422
    (detail,) = result.json()["detail"]
    assert detail["loc"] == location
    assert detail["type"] in {"value_error", "file_download_error"}
    document = webhook.json()
    assert (document["status"], document["error"]) == ("ERROR", "Invalid status code: 422")
    assert document["payload"] == result.json()


def test_end_user_id_is_taken_by_fast_text_to_video(api: httpx.Client) -> None:
    queued = submit(api, FAST_T2V, end_user_id="user-7")

    assert "error" not in completed(api, queued)


def test_public_media_is_accepted_unfetched_and_loopback_media_only_when_allowed(
    clip_cache_dir: Path, peer: LoopbackPeer
) -> None:
    peer.files["/a.png"] = b"\x89PNG fake"
    with quick_simulator(clip_cache_dir, api_keys={"fal": API_KEY}, allow_loopback_media=True) as sim:
        with client(sim.provider_base_url("fal")) as api:
            api.headers["Authorization"] = f"Key {API_KEY}"
            queued = submit(
                api, I2V, image_url=f"{peer.url}/a.png", end_image_url="https://cdn.example.com/b.png"
            )
            assert "error" not in completed(api, queued)
        job = sim.prediction(queued["request_id"])

    assert job is not None
    assert [(fetch.field, fetch.status_code) for fetch in job.media_fetches] == [("image_url", 200)]
    assert [call.path for call in peer.calls("GET")] == ["/a.png"]


# -- failures and cancellation ----------------------------------------------------------------------------
def test_a_failed_generation_is_a_request_error_named_by_type(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    sim.faults.fail_predictions = 1
    queued = submit(api, webhook=f"{peer.url}/hook")

    status = completed(api, queued)
    result = api.get(queued["response_url"])
    (webhook,) = peer.wait_for(1)

    assert status["error_type"] == "runner_server_error"
    assert (result.status_code, result.headers["x-fal-error-type"]) == (500, "runner_server_error")
    assert result.json()["error_type"] == "runner_server_error"
    assert (webhook.json()["status"], webhook.json()["error"]) == ("ERROR", "Invalid status code: 500")


def test_cancel_removes_a_queued_request_and_reports_it(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    http.post(f"{sim.base_url}/_sim/faults", json={"hold_in_queue": True}).raise_for_status()
    queued = submit(api, webhook=f"{peer.url}/hook")
    assert (api.get(queued["status_url"]).json()["status"], sim.usage()["fal"][API_KEY]["active"]) == (
        "IN_QUEUE",
        1,
    )

    cancelled = api.put(queued["cancel_url"])
    again = api.put(queued["cancel_url"])
    unknown = api.put(f"{APP}/requests/{uuid.uuid4()}/cancel")
    (webhook,) = peer.wait_for(1)

    assert (cancelled.status_code, cancelled.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})
    assert (unknown.status_code, unknown.json()) == (404, {"status": "NOT_FOUND"})
    status = api.get(queued["status_url"]).json()
    assert (status["status"], status["error_type"]) == ("COMPLETED", "client_cancelled")
    assert api.get(queued["response_url"]).status_code == 499
    assert webhook.json()["status"] == "ERROR"
    assert sim.prediction(queued["request_id"]).status is JobStatus.CANCELLED  # type: ignore[union-attr]
    assert sim.usage()["fal"][API_KEY]["active"] == 0
    puts = [logged for logged in sim.requests_for("fal") if logged["method"] == "PUT"]
    assert [logged["path"] for logged in puts][0] == f"/fal{APP}/requests/{queued['request_id']}/cancel"


def test_cancel_stops_a_running_request_too(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.processing_seconds = 5
    queued = submit(api)
    assert api.get(queued["status_url"]).json()["status"] == "IN_PROGRESS"

    assert api.put(queued["cancel_url"]).status_code == 202
    assert sim.wait_for_prediction(queued["request_id"], timeout=3).status is JobStatus.CANCELLED


def test_cancel_of_a_completed_request_is_already_completed(api: httpx.Client) -> None:
    queued = submit(api)
    completed(api, queued)

    refused = api.put(queued["cancel_url"])

    assert (refused.status_code, refused.json()) == (400, {"status": "ALREADY_COMPLETED"})


# -- webhooks ---------------------------------------------------------------------------------------------
def test_the_webhook_is_the_documented_body_signed_with_a_key_of_the_jwks(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    queued = submit(api, webhook=f"{peer.url}/hooks/fal?token=abc.1")

    (webhook,) = peer.wait_for(1)
    document = webhook.json()
    keys = jwks_keys(http, sim)

    assert webhook.path == "/hooks/fal?token=abc.1"
    assert set(document) == WEBHOOK_KEYS
    assert (document["request_id"], document["gateway_request_id"], document["status"]) == (
        queued["request_id"],
        queued["request_id"],
        "OK",
    )
    assert document["payload"] == api.get(queued["response_url"]).json()
    assert webhook.headers["x-fal-webhook-request-id"] == queued["request_id"]
    assert webhook.headers["x-fal-webhook-user-id"].startswith("sim-user-")
    assert (
        abs(
            int(webhook.headers["x-fal-webhook-timestamp"])
            - int(sim.prediction(queued["request_id"]).completed_at or 0)
        )
        <= 5
    )  # type: ignore[union-attr]
    assert len(webhook.headers["x-fal-webhook-signature"]) == 128
    assert verifies(keys, webhook)
    assert all(
        set(key) == {"kty", "crv", "x"} and (key["kty"], key["crv"]) == ("OKP", "Ed25519") for key in keys
    )


def test_the_jwks_needs_no_key_and_takes_only_get(sim: ProviderSimulator, http: httpx.Client) -> None:
    assert http.get(f"{sim.provider_base_url('fal')}{JWKS}").status_code == 200
    assert http.post(f"{sim.provider_base_url('fal')}{JWKS}").status_code == 405
    assert sim.pipeline_settings("fal")["FAL_JWKS_URL"] == f"{sim.provider_base_url('fal')}{JWKS}"


def test_after_a_rotation_the_new_key_signs_and_the_jwks_lists_both(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    before = jwks_keys(http, sim)
    http.post(f"{sim.base_url}/_sim/keys/rotate").raise_for_status()
    after = jwks_keys(http, sim)

    submit(api, webhook=f"{peer.url}/hook")
    (webhook,) = peer.wait_for(1)

    assert len(after) == 2
    assert after[1] == before[0]
    assert verifies(after[:1], webhook)
    assert not verifies(before, webhook)


def test_the_request_log_keeps_the_webhook_url_as_sent(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    url = f"{peer.url}/webhooks/fal/j1?token=t.1"
    api.post(T2V, json={"prompt": "p"}, params={"fal_webhook": url})

    (logged,) = sim.requests_for("fal")
    assert logged["query"] == {"fal_webhook": url}
    assert [call.path for call in peer.wait_for(1)] == ["/webhooks/fal/j1?token=t.1"]
