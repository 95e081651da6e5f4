"""The provider simulator speaks the Atlas Cloud dialect (docs/provider-dialects.md) over real HTTP."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from local.simulator import ProviderSimulator
from local.simulator.testing import LoopbackPeer, ReceivedCall, client, poll, quick_simulator, video_facts

API_KEY = "test-atlascloud-key"
T2V = "bytedance/seedance-2.0/text-to-video"
I2V = "bytedance/seedance-2.0/image-to-video"
R2V = "bytedance/seedance-2.0/reference-to-video"
CREATE = "/api/v1/model/generateVideo"
UPLOAD = "/api/v1/model/uploadMedia"
ISO_8601 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ENVELOPE_KEYS = {"session_id", "event_type", "status", "payload", "error"}
PREDICTION_KEYS = {"id", "status", "model", "outputs", "error", "metrics", "created_at", "completed_at"}
JWKS_PATHS = ("/api/v1/webhooks/jwks.json", "/.well-known/jwks.json")


@pytest.fixture
def sim(clip_cache_dir: Path) -> Iterator[ProviderSimulator]:
    with quick_simulator(clip_cache_dir, api_keys={"atlascloud": API_KEY}) as simulator:
        yield simulator


@pytest.fixture
def api(sim: ProviderSimulator) -> Iterator[httpx.Client]:
    with client(sim.provider_base_url("atlascloud"), bearer=API_KEY) as api_client:
        yield api_client


REMOVE = object()


def t2v(**changes: Any) -> dict[str, Any]:
    """A text-to-video body with fields changed (or dropped, given REMOVE)."""
    body: dict[str, Any] = {
        "model": T2V,
        "prompt": "A lighthouse at dusk",
        "resolution": "480p",
        "duration": 4,
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not REMOVE}


def create(api: httpx.Client, body: dict[str, Any]) -> str:
    response = api.post(CREATE, json=body)
    assert response.status_code == 200, response.text
    prediction_id: str = response.json()["data"]["id"]
    return prediction_id


def finished(api: httpx.Client, prediction_id: str) -> dict[str, Any]:
    data: dict[str, Any] = poll(
        lambda: api.get(f"/api/v1/model/prediction/{prediction_id}").json()["data"],
        lambda data: data["status"] != "processing",
    )
    return data


def jwks_key(http: httpx.Client, sim: ProviderSimulator, kid: str) -> Ed25519PublicKey:
    keys = http.get(f"{sim.provider_base_url('atlascloud')}/.well-known/jwks.json").json()["keys"]
    (jwk,) = [key for key in keys if key["kid"] == kid]
    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return Ed25519PublicKey.from_public_bytes(raw)


def verifies(key: Ed25519PublicKey, webhook: ReceivedCall) -> bool:
    signature = webhook.headers["x-atlascloud-webhook-signature-ed25519"]
    message = webhook.headers["x-atlascloud-webhook-timestamp"].encode() + b"." + webhook.body
    try:
        key.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), message)
    except InvalidSignature:
        return False
    return True


# -- create and status ----------------------------------------------------------------------------------
def test_create_answers_the_prediction_wrapped_in_data(api: httpx.Client) -> None:
    response = api.post(CREATE, json=t2v())

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"code", "message", "data"}
    assert (body["code"], body["message"]) == (200, "success")
    data = body["data"]
    assert set(data) == {"id", "status", "model", "outputs", "created_at"}
    assert data["status"] == "processing"
    assert data["model"] == T2V
    assert data["outputs"] == []
    assert ISO_8601.fullmatch(data["created_at"])
    assert re.fullmatch(r"pred_[0-9a-f]{32}", data["id"])


def test_prediction_is_processing_then_completed_with_a_real_mp4(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    sim.processing_seconds = 0.3
    prediction_id = create(api, t2v())

    first = api.get(f"/api/v1/model/prediction/{prediction_id}").json()
    final = finished(api, prediction_id)
    download = http.get(final["outputs"][0])

    assert set(first) == {"code", "message", "data"}
    assert first["data"]["status"] == "processing"
    assert first["data"]["outputs"] == []
    assert first["data"]["completed_at"] is None
    assert first["data"]["metrics"] == {"predict_time": None}
    assert set(final) == {
        "id",
        "status",
        "model",
        "outputs",
        "error",
        "metrics",
        "created_at",
        "completed_at",
    }
    assert final["status"] == "completed"
    assert final["error"] is None
    assert final["outputs"] == [f"{sim.base_url}/atlascloud/outputs/{prediction_id}.mp4"]
    assert final["metrics"]["predict_time"] >= 0.3
    assert ISO_8601.fullmatch(final["completed_at"])
    assert download.headers["content-type"] == "video/mp4"
    facts = video_facts(download.content)
    assert facts.brand == b"ftyp"
    assert (facts.width, facts.height) == (854, 480)
    assert abs(facts.duration_seconds - 4) <= 1 / 24
    assert facts.codecs == {"h264", "aac"}


def test_defaults_are_720p_auto_ratio_five_seconds_with_audio(
    sim: ProviderSimulator, api: httpx.Client
) -> None:
    sim.faults.stall_predictions = 1  # only the clip's shape matters: no need to render it
    prediction_id = create(api, {"model": T2V, "prompt": "a cat"})

    record = sim.prediction(prediction_id)
    assert record is not None
    assert record.to_json()["clip"] == {
        "width": 1280,
        "height": 720,
        "duration_seconds": 5,
        "with_audio": True,
        "moov_first": True,
    }


def test_width_and_height_set_the_clip_size_and_fps_is_accepted(
    api: httpx.Client, http: httpx.Client
) -> None:
    body = {
        "model": I2V,
        "prompt": "The lion roars",
        "image": "https://cdn.example.com/lion.jpg",
        "last_image": "https://cdn.example.com/lion-end.png",
        "width": 512,
        "height": 384,
        "fps": 24,
        "duration": 4,
        "generate_audio": False,
        "seed": 7,
    }

    final = finished(api, create(api, body))

    facts = video_facts(http.get(final["outputs"][0]).content)
    assert final["model"] == I2V
    assert (facts.width, facts.height) == (512, 384)
    assert facts.codecs == {"h264"}


def test_reference_to_video_takes_reference_media(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 1
    body = {
        "model": R2V,
        "prompt": "Keep the product identity",
        "reference_images": [f"https://cdn.example.com/{n}.png" for n in range(9)],
        "reference_videos": ["https://cdn.example.com/a.mp4"] * 3,
        "reference_audios": ["https://cdn.example.com/a.mp3"] * 3,
        "aspect_ratio": "9:16",
        "resolution": "1080p",
    }

    response = api.post(CREATE, json=body)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["model"] == R2V
    record = sim.prediction(response.json()["data"]["id"])
    assert record is not None
    assert record.request == body
    assert (record.clip.width, record.clip.height) == (1080, 1920)


def test_failed_prediction_reports_the_error(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.fail_predictions = 1

    final = finished(api, create(api, t2v()))

    assert final["status"] == "failed"
    assert final["outputs"] == []
    assert isinstance(final["error"], str)
    assert final["error"]


def test_unknown_prediction_is_404_in_the_error_shape(api: httpx.Client) -> None:
    response = api.get("/api/v1/model/prediction/pred_nope")

    assert response.status_code == 404
    assert set(response.json()) == {"code", "message"}
    assert response.json()["code"] == 404


def test_wrong_method_is_405(api: httpx.Client) -> None:
    response = api.get(CREATE)

    assert response.status_code == 405
    assert response.json()["code"] == 405


# -- authentication and validation ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": API_KEY},
        {"Authorization": f"Basic {API_KEY}"},
        {"X-API-Key": API_KEY},
    ],
)
@pytest.mark.parametrize(("method", "path"), [("POST", CREATE), ("GET", "/api/v1/model/prediction/x")])
def test_requests_without_the_bearer_key_are_401(
    sim: ProviderSimulator, http: httpx.Client, headers: dict[str, str], method: str, path: str
) -> None:
    url = f"{sim.provider_base_url('atlascloud')}{path}"

    response = http.request(method, url, json=t2v() if method == "POST" else None, headers=headers)

    assert response.status_code == 401
    assert set(response.json()) == {"code", "message"}
    assert response.json()["code"] == 401
    assert sim.predictions() == []


@pytest.mark.parametrize(
    ("body", "named"),
    [
        pytest.param(t2v(input={"prompt": "x"}), "input", id="input-object"),
        pytest.param(t2v(callback_url="https://x.example/h"), "callback_url", id="unknown-field"),
        pytest.param(t2v(model="bytedance/seedance-2.0/pro"), "model", id="model-unknown"),
        pytest.param(t2v(model=REMOVE), "model", id="model-missing"),
        pytest.param(t2v(prompt=REMOVE), "prompt", id="prompt-missing"),
        pytest.param(t2v(prompt="  "), "prompt", id="prompt-blank"),
        pytest.param(t2v(prompt=5), "prompt", id="prompt-not-string"),
        pytest.param(t2v(image="https://cdn.example.com/a.png"), "image", id="t2v-image"),
        pytest.param(t2v(last_image="https://cdn.example.com/a.png"), "last_image", id="t2v-last-image"),
        pytest.param(t2v(model=I2V), "image", id="i2v-without-image"),
        pytest.param(
            t2v(
                model=R2V,
                image="https://cdn.example.com/a.png",
                reference_images=["https://cdn.example.com/b"],
            ),
            "image",
            id="r2v-image",
        ),
        pytest.param(
            t2v(model=I2V, image="https://c.example/a.png", reference_images=["https://c.example/b.png"]),
            "reference_images",
            id="i2v-references",
        ),
        pytest.param(
            t2v(reference_videos=["https://c.example/v.mp4"]), "reference_videos", id="t2v-references"
        ),
        pytest.param(
            t2v(model=R2V, reference_audios=["https://c.example/a.mp3"]),
            "reference_images",
            id="r2v-audio-only",
        ),
        pytest.param(t2v(model=R2V), "reference_images", id="r2v-nothing"),
        pytest.param(
            t2v(model=R2V, reference_images=["https://c.example/i.png"] * 10),
            "reference_images",
            id="ten-images",
        ),
        pytest.param(
            t2v(model=R2V, reference_videos=["https://c.example/v.mp4"] * 4),
            "reference_videos",
            id="four-videos",
        ),
        pytest.param(
            t2v(
                model=R2V,
                reference_videos=["https://c.example/v.mp4"],
                reference_audios=["https://c.example/a"] * 4,
            ),
            "reference_audios",
            id="four-audios",
        ),
        pytest.param(t2v(model=R2V, reference_images=[7]), "reference_images[0]", id="reference-not-string"),
        pytest.param(
            t2v(model=R2V, reference_images="https://c.example/i.png"), "reference_images", id="not-list"
        ),
        pytest.param(t2v(resolution="4k"), "resolution", id="resolution"),
        pytest.param(t2v(duration=3), "duration", id="duration-short"),
        pytest.param(t2v(duration=16), "duration", id="duration-long"),
        pytest.param(t2v(duration="5"), "duration", id="duration-string"),
        pytest.param(t2v(duration=5.5), "duration", id="duration-fraction"),
        pytest.param(t2v(aspect_ratio="2:1"), "aspect_ratio", id="aspect-ratio"),
        pytest.param(t2v(generate_audio="true"), "generate_audio", id="audio-string"),
        pytest.param(t2v(seed="42"), "seed", id="seed-string"),
        pytest.param(t2v(webhook_url="/hooks"), "webhook_url", id="webhook-relative"),
        pytest.param(t2v(webhook_url=5), "webhook_url", id="webhook-not-string"),
        pytest.param(t2v(width=512), "height", id="width-alone"),
        pytest.param(t2v(height=512), "width", id="height-alone"),
        pytest.param(t2v(width=513, height=512), "width", id="width-odd"),
        pytest.param(t2v(width=512, height=10), "height", id="height-tiny"),
        pytest.param(t2v(fps=0), "fps", id="fps"),
        pytest.param(t2v(model=I2V, image="http://cdn.example.com/a.png"), "image", id="image-plain-http"),
        pytest.param(t2v(model=I2V, image="data:image/png;base64,AAAA"), "image", id="image-data-uri"),
        pytest.param(t2v(model=I2V, image="http://127.0.0.1:9/a.png"), "image", id="image-loopback"),
        pytest.param(
            t2v(model=I2V, image="https://c.example/a.png", last_image="https://10.0.0.1/b.png"),
            "last_image",
            id="last-image-private",
        ),
        pytest.param(
            t2v(model=R2V, reference_images=["https://c.example/a.png", "https://localhost/b.png"]),
            "reference_images[1]",
            id="reference-localhost",
        ),
    ],
)
def test_create_refuses_with_400_naming_the_field(
    sim: ProviderSimulator, api: httpx.Client, body: dict[str, Any], named: str
) -> None:
    response = api.post(CREATE, json=body)

    assert response.status_code == 400, response.text
    error = response.json()
    assert set(error) == {"code", "message"}
    assert error["code"] == 400
    assert f"'{named}'" in error["message"]
    assert sim.predictions() == []


@pytest.mark.parametrize("content", [b"model=x", b"[1, 2]"])
def test_create_refuses_a_body_that_is_not_a_json_object(api: httpx.Client, content: bytes) -> None:
    response = api.post(CREATE, content=content, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_reject_creates_fault_answers_in_the_error_shape(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.reject_creates_with_status = 503

    rejected = api.post(CREATE, json=t2v())

    assert rejected.status_code == 503
    assert rejected.json()["code"] == 503
    assert sim.faults.reject_creates_with_status is None


# -- webhooks and keys ----------------------------------------------------------------------------------
def test_webhook_carries_the_documented_envelope_signed_with_a_jwks_key(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    prediction_id = create(api, t2v(webhook_url=f"{peer.url}/hooks/atlas"))

    (webhook,) = peer.wait_for(1)
    status = finished(api, prediction_id)

    body = webhook.json()
    assert webhook.path == "/hooks/atlas"
    assert set(body) == ENVELOPE_KEYS
    assert (body["session_id"], body["event_type"], body["status"], body["error"]) == (
        prediction_id,
        "video.task.terminal",
        "OK",
        None,
    )
    assert set(body["payload"]) == PREDICTION_KEYS
    assert body["payload"] == status, "the payload is what a status GET answers in data"
    assert body["payload"]["status"] == "completed"
    assert webhook.headers["content-type"] == "application/json"
    assert webhook.headers["x-atlascloud-webhook-event"] == "video.task.terminal"
    assert re.fullmatch(r"whk_[0-9a-f]{32}", webhook.headers["x-atlascloud-webhook-id"])
    signature = webhook.headers["x-atlascloud-webhook-signature-ed25519"]
    assert "=" not in signature
    assert re.fullmatch(r"[A-Za-z0-9_-]{86}", signature), "64 bytes, base64url without padding"
    assert int(webhook.headers["x-atlascloud-webhook-timestamp"]) > 0
    kid = webhook.headers["x-atlascloud-webhook-key-id"]
    key = jwks_key(http, sim, kid)
    assert verifies(key, webhook)
    tampered = ReceivedCall(webhook.method, webhook.path, webhook.headers, webhook.body + b" ", 0.0)
    assert not verifies(key, tampered)


@pytest.mark.parametrize("path", JWKS_PATHS)
def test_jwks_needs_no_auth_and_lists_ed25519_keys(
    sim: ProviderSimulator, http: httpx.Client, path: str
) -> None:
    response = http.get(f"{sim.provider_base_url('atlascloud')}{path}")

    assert response.status_code == 200
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "crv", "kid", "x", "use", "alg"}
    assert (key["kty"], key["crv"], key["use"], key["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert len(base64.urlsafe_b64decode(key["x"] + "=")) == 32


def test_after_rotation_webhooks_are_signed_with_the_new_key_and_jwks_lists_both(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    create(api, t2v(webhook_url=f"{peer.url}/before"))
    (before,) = peer.wait_for(1)

    rotated = http.post(f"{sim.base_url}/_sim/keys/rotate")
    create(api, t2v(webhook_url=f"{peer.url}/after"))
    after = peer.wait_for(2)[1]

    assert rotated.status_code == 200
    new_kid = rotated.json()["kid"]
    old_kid = before.headers["x-atlascloud-webhook-key-id"]
    assert set(rotated.json()) == {"kid"}
    assert new_kid != old_kid
    listed = [
        key["kid"]
        for key in http.get(f"{sim.provider_base_url('atlascloud')}/.well-known/jwks.json").json()["keys"]
    ]
    assert sorted(listed) == sorted([old_kid, new_kid])
    assert after.headers["x-atlascloud-webhook-key-id"] == new_kid
    assert verifies(jwks_key(http, sim, new_kid), after)
    assert not verifies(jwks_key(http, sim, old_kid), after)
    assert verifies(jwks_key(http, sim, old_kid), before)


def test_webhook_is_retried_with_identical_bytes_until_answered_2xx(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    peer.post_statuses = [500, 502]
    prediction_id = create(api, t2v(webhook_url=f"{peer.url}/hooks"))

    received = peer.wait_for(3)
    record = sim.wait_for_prediction(prediction_id, timeout=20)

    assert [attempt.status_code for attempt in record.webhook_attempts] == [500, 502, 200]
    assert len({(w.body, w.headers["x-atlascloud-webhook-signature-ed25519"]) for w in received}) == 1
    assert len({w.headers["x-atlascloud-webhook-id"] for w in received}) == 1


def test_each_prediction_s_webhook_has_its_own_id(
    sim: ProviderSimulator, api: httpx.Client, peer: LoopbackPeer
) -> None:
    first, second = (
        create(api, t2v(webhook_url=f"{peer.url}/a")),
        create(api, t2v(webhook_url=f"{peer.url}/b")),
    )

    received = peer.wait_for(2)

    assert {w.json()["session_id"] for w in received} == {first, second}
    assert len({w.headers["x-atlascloud-webhook-id"] for w in received}) == 2


def test_failed_prediction_webhook_says_error_with_the_failed_payload(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client, peer: LoopbackPeer
) -> None:
    sim.faults.fail_predictions = 1
    prediction_id = create(api, t2v(webhook_url=f"{peer.url}/hooks"))

    (webhook,) = peer.wait_for(1)

    body = webhook.json()
    assert (body["session_id"], body["event_type"], body["status"]) == (
        prediction_id,
        "video.task.terminal",
        "ERROR",
    )
    assert body["error"]
    assert body["payload"]["status"] == "failed"
    assert body["payload"]["outputs"] == []
    assert body["payload"]["error"] == body["error"]
    assert body["payload"] == finished(api, prediction_id)
    assert webhook.headers["x-atlascloud-webhook-event"] == "video.task.terminal"
    assert verifies(jwks_key(http, sim, webhook.headers["x-atlascloud-webhook-key-id"]), webhook)


# -- uploads --------------------------------------------------------------------------------------------
def test_upload_is_stored_and_served_back_byte_for_byte(
    sim: ProviderSimulator, api: httpx.Client, http: httpx.Client
) -> None:
    content = os.urandom(200_000) + b"\r\n--boundary--\r\n" + bytes(range(256))

    response = api.post(UPLOAD, files={"file": ("lion frame.png", content, "image/png")})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["code"], body["message"]) == (200, "success")
    data = body["data"]
    assert set(data) == {"download_url", "file_name", "content_type", "size"}
    assert (data["file_name"], data["content_type"], data["size"]) == (
        "lion frame.png",
        "image/png",
        len(content),
    )
    assert re.fullmatch(
        rf"{re.escape(sim.base_url)}/atlascloud/uploads/[0-9a-f]{{32}}/lion%20frame\.png",
        data["download_url"],
    )
    download = http.get(data["download_url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content == content


def test_an_uploaded_file_can_be_the_first_frame(sim: ProviderSimulator, api: httpx.Client) -> None:
    sim.faults.stall_predictions = 2
    upload = api.post(UPLOAD, files={"file": ("f.png", b"\x89PNG...", "image/png")}).json()["data"]
    missing = upload["download_url"].replace("/f.png", "/g.png")

    accepted = api.post(CREATE, json=t2v(model=I2V, image=upload["download_url"]))
    refused = api.post(CREATE, json=t2v(model=I2V, image=missing))

    assert accepted.status_code == 200, accepted.text
    assert refused.status_code == 400
    assert "'image'" in refused.json()["message"]


def multipart(parts: list[tuple[str, str | None, str | None, bytes]], boundary: str = "b0undary") -> bytes:
    """A hand-made multipart body: (name, filename, content type, data) per part."""
    chunks = []
    for name, filename, content_type, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        headers = f"Content-Disposition: {disposition}\r\n"
        if content_type:
            headers += f"Content-Type: {content_type}\r\n"
        chunks.append(f"--{boundary}\r\n{headers}\r\n".encode() + data + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param(multipart([("image", "a.png", "image/png", b"x")]), "image", id="wrong-part-name"),
        pytest.param(
            multipart([("file", "a.png", "image/png", b"x"), ("purpose", None, None, b"r")]),
            "purpose",
            id="extra-part",
        ),
        pytest.param(multipart([("file", None, "image/png", b"x")]), "file", id="no-filename"),
        pytest.param(multipart([("file", "a.png", None, b"x")]), "file", id="no-content-type"),
        pytest.param(multipart([("file", "a.png", "image/png", b"")]), "file", id="empty"),
        pytest.param(multipart([("file", "../a.png", "image/png", b"x")]), "file", id="path-in-filename"),
        pytest.param(multipart([("file", "a.png", "image/png", b"x")])[:-4], None, id="no-closing-boundary"),
    ],
)
def test_upload_refuses_malformed_forms_with_400(
    sim: ProviderSimulator, api: httpx.Client, content: bytes, named: str | None
) -> None:
    response = api.post(
        UPLOAD, content=content, headers={"Content-Type": "multipart/form-data; boundary=b0undary"}
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == 400
    if named is not None:
        assert f"'{named}'" in response.json()["message"]
    assert sim.uploads() == []


def test_upload_refuses_a_json_body(api: httpx.Client) -> None:
    response = api.post(UPLOAD, json={"file": "aGVsbG8="})

    assert response.status_code == 400
    assert "multipart/form-data" in response.json()["message"]


def test_upload_over_30_mib_is_413(sim: ProviderSimulator, api: httpx.Client) -> None:
    response = api.post(UPLOAD, files={"file": ("big.mp4", bytes(30 * 1024 * 1024 + 1), "video/mp4")})

    assert response.status_code == 413
    assert set(response.json()) == {"code", "message"}
    assert response.json()["code"] == 413
    assert sim.uploads() == []


def test_unknown_upload_is_404(sim: ProviderSimulator, http: httpx.Client) -> None:
    response = http.get(f"{sim.provider_base_url('atlascloud')}/uploads/{'0' * 32}/a.png")

    assert response.status_code == 404
    assert response.json()["code"] == 404
