"""The Atlas Cloud dialect at its HTTP boundary (httpx.MockTransport): flat creates, Ed25519-signed
webhook envelopes (https://www.atlascloud.ai/docs/webhooks), a JWKS cache that refetches on rotation,
tolerant status words, streamed uploads."""

import base64
import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr

from tests.support import FixedClock, status_words
from videojobs.errors import InvalidWebhook, ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, ProviderState, WebhookTarget
from videojobs.ports import MediaFile, MediaUploader
from videojobs.providers._jwks import JwksKeys
from videojobs.providers.atlascloud.adapter import AtlasCloudProvider

BASE_URL = "https://api.atlascloud.ai"
JWKS_URL = "https://api.atlascloud.ai/api/v1/webhooks/jwks.json"
WEBHOOK = WebhookTarget(url="https://api.example.com/webhooks/atlascloud/j1?token=t", signing_secret="s3cret")
OUTPUT = "https://storage.atlascloud.ai/outputs/result.mp4"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, str]:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": self.kid,
            "x": b64url(raw),
            "use": "sig",
            "alg": "EdDSA",
        }

    def sign(self, body: bytes, timestamp: int, *, padded: bool = False) -> dict[str, str]:
        signature = self.private.sign(f"{timestamp}.".encode() + body)
        encoded = base64.urlsafe_b64encode(signature).decode() if padded else b64url(signature)
        return {
            "X-AtlasCloud-Webhook-Timestamp": str(timestamp),
            "X-AtlasCloud-Webhook-Key-Id": self.kid,
            "X-AtlasCloud-Webhook-Signature-Ed25519": encoded,
        }


class FakeAtlas:
    """Answers the JWKS from ``keys`` (``jwks_down`` makes it fail) and API calls from ``responses``."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.extra_jwks: list[dict[str, str]] = []
        self.jwks_down: Callable[[], httpx.Response] | None = None
        self.jwks_delay = 0.0
        self.responses: list[httpx.Response] = []
        self.seen: list[httpx.Request] = []
        self.jwks_fetches = 0
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.seen.append(request)
            if str(request.url) == JWKS_URL:
                self.jwks_fetches += 1
        if str(request.url) == JWKS_URL:
            time.sleep(self.jwks_delay)
            if self.jwks_down is not None:
                return self.jwks_down()
            return httpx.Response(200, json={"keys": [*self.extra_jwks, *(key.jwk() for key in self.keys)]})
        return self.responses.pop(0)

    def provider(self, clock: FixedClock | None = None) -> AtlasCloudProvider:
        return AtlasCloudProvider(
            httpx.Client(transport=httpx.MockTransport(self.handle)),
            base_url=f"{BASE_URL}/",
            api_key=SecretStr("atlas-key"),
            jwks_url=JWKS_URL,
            clock=clock or FixedClock(),
            max_webhook_age=timedelta(minutes=5),
        )


def created(**data: object) -> httpx.Response:
    prediction = {"id": "pred_abc", "status": "processing", "model": "m", "outputs": [], **data}
    return httpx.Response(200, json={"code": 200, "message": "success", "data": prediction})


def sent_json(request: httpx.Request) -> dict[str, object]:
    body: dict[str, object] = json.loads(request.content)
    return body


# --- create -----------------------------------------------------------------------------------------


def test_text_to_video_sends_every_parameter_flat_with_our_webhook_and_no_secret() -> None:
    atlas = FakeAtlas()
    atlas.responses = [created()]
    request = JobRequest(
        provider="atlascloud",
        prompt="sunset over the ocean",
        resolution="1080p",
        duration=8,
        aspect_ratio="21:9",
        generate_audio=False,
        seed=7,
    )

    receipt = atlas.provider().create_prediction(request, WEBHOOK)

    sent = atlas.seen[0]
    assert receipt.provider_job_id == "pred_abc"
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE_URL}/api/v1/model/generateVideo")
    assert sent.headers["authorization"] == "Bearer atlas-key"
    assert sent.headers["content-type"] == "application/json"
    assert sent_json(sent) == {
        "model": "bytedance/seedance-2.0/text-to-video",
        "prompt": "sunset over the ocean",
        "resolution": "1080p",
        "duration": 8,
        "aspect_ratio": "21:9",
        "generate_audio": False,
        "seed": 7,
        "webhook_url": WEBHOOK.url,
    }
    assert b"s3cret" not in sent.content


def test_unset_options_are_left_to_the_provider() -> None:
    atlas = FakeAtlas()
    atlas.responses = [created()]

    atlas.provider().create_prediction(JobRequest(provider="atlascloud", prompt="p"), WEBHOOK)

    assert sent_json(atlas.seen[0]) == {
        "model": "bytedance/seedance-2.0/text-to-video",
        "prompt": "p",
        "resolution": "720p",
        "generate_audio": True,
        "webhook_url": WEBHOOK.url,
    }


def test_a_first_frame_selects_image_to_video_with_first_and_last_image() -> None:
    atlas = FakeAtlas()
    atlas.responses = [created()]
    request = JobRequest(
        provider="atlascloud",
        prompt="lion",
        first_frame_url="https://cdn.example.com/a.png",
        last_frame_url="https://cdn.example.com/b.png",
        duration=5,
    )

    atlas.provider().create_prediction(request, WEBHOOK)

    body = sent_json(atlas.seen[0])
    assert body["model"] == "bytedance/seedance-2.0/image-to-video"
    assert (body["image"], body["last_image"]) == (
        "https://cdn.example.com/a.png",
        "https://cdn.example.com/b.png",
    )
    assert "input" not in body
    assert not {"reference_images", "reference_videos", "reference_audios"} & body.keys()


def test_reference_media_selects_reference_to_video_with_lists() -> None:
    atlas = FakeAtlas()
    atlas.responses = [created()]
    request = JobRequest(
        provider="atlascloud",
        prompt="@image1 walks through @video1",
        reference_image_urls=["https://cdn.example.com/1.png", "https://cdn.example.com/2.png"],
        reference_video_urls=["https://cdn.example.com/v.mp4"],
        reference_audio_urls=["https://cdn.example.com/a.mp3"],
    )

    atlas.provider().create_prediction(request, WEBHOOK)

    body = sent_json(atlas.seen[0])
    assert body["model"] == "bytedance/seedance-2.0/reference-to-video"
    assert body["reference_images"] == ["https://cdn.example.com/1.png", "https://cdn.example.com/2.png"]
    assert body["reference_videos"] == ["https://cdn.example.com/v.mp4"]
    assert body["reference_audios"] == ["https://cdn.example.com/a.mp3"]
    assert "image" not in body


def test_the_unwrapped_create_answer_of_the_documents_second_example_is_read_too() -> None:
    atlas = FakeAtlas()
    atlas.responses = [httpx.Response(200, json={"id": "pred_bare", "status": "processing"})]

    receipt = atlas.provider().create_prediction(JobRequest(provider="atlascloud", prompt="p"), WEBHOOK)

    assert receipt.provider_job_id == "pred_bare"


def test_a_created_prediction_in_a_status_we_do_not_know_is_still_created() -> None:
    atlas = FakeAtlas()
    atlas.responses = [created(status="created")]

    receipt = atlas.provider().create_prediction(JobRequest(provider="atlascloud", prompt="p"), WEBHOOK)

    assert receipt.provider_job_id == "pred_abc"


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
    ]
    + [(502, True), (503, True), (504, True)],
)
def test_http_errors_carry_the_message_and_say_whether_to_retry(status: int, retryable: bool) -> None:
    atlas = FakeAtlas()
    atlas.responses = [httpx.Response(status, json={"code": status, "message": "prompt is required"})]

    with pytest.raises(ProviderError) as raised:
        atlas.provider().create_prediction(JobRequest(provider="atlascloud", prompt="p"), WEBHOOK)

    assert (raised.value.retryable, raised.value.status_code) == (retryable, status)
    assert "prompt is required" in str(raised.value)


@pytest.mark.parametrize(("code", "retryable"), [(400, False), (500, True)])
def test_an_error_code_inside_a_200_envelope_is_an_error(code: int, retryable: bool) -> None:
    atlas = FakeAtlas()
    atlas.responses = [httpx.Response(200, json={"code": code, "message": "model busy", "data": None})]

    with pytest.raises(ProviderError, match="model busy") as raised:
        atlas.provider().create_prediction(JobRequest(provider="atlascloud", prompt="p"), WEBHOOK)

    assert raised.value.retryable is retryable


def test_transport_errors_are_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    provider = AtlasCloudProvider(
        httpx.Client(transport=httpx.MockTransport(refuse)),
        base_url=BASE_URL,
        api_key=SecretStr("atlas-key"),
        jwks_url=JWKS_URL,
        clock=FixedClock(),
        max_webhook_age=timedelta(minutes=5),
    )

    with pytest.raises(ProviderError, match="unreachable") as raised:
        provider.create_prediction(JobRequest(provider="atlascloud", prompt="p"), WEBHOOK)

    assert raised.value.retryable is True
    assert raised.value.ambiguous is False  # a refused connection sent nothing
    assert "atlas-key" not in str(raised.value)


@pytest.mark.parametrize(
    "answer",
    [
        {"code": 200, "message": "success", "data": {"status": "processing"}},
        {"code": 200, "message": "success", "data": {"id": "", "status": "processing"}},
        {"code": 200, "message": "success"},
        ["pred_abc"],
    ],
)
def test_unexpected_answers_are_not_retried(answer: object) -> None:
    atlas = FakeAtlas()
    atlas.responses = [httpx.Response(200, json=answer)]

    with pytest.raises(ProviderError, match="unexpected shape") as raised:
        atlas.provider().create_prediction(JobRequest(provider="atlascloud", prompt="p"), WEBHOOK)

    assert raised.value.retryable is False


# --- status -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "state", "output_url", "error"),
    [
        ({"status": "processing", "outputs": []}, ProviderState.PROCESSING, None, None),
        (
            {"status": "completed", "outputs": [OUTPUT, "https://x/2.mp4"]},
            ProviderState.SUCCEEDED,
            OUTPUT,
            None,
        ),
        ({"status": "succeeded", "outputs": [OUTPUT]}, ProviderState.SUCCEEDED, OUTPUT, None),
        ({"status": "completed", "outputs": []}, ProviderState.SUCCEEDED, None, None),
        (
            {"status": "failed", "outputs": [], "error": "NSFW content"},
            ProviderState.FAILED,
            None,
            "NSFW content",
        ),
        ({"status": "failed", "error": None}, ProviderState.FAILED, None, None),
    ],
)
def test_status_polling_maps_every_status_word(
    data: dict[str, object], state: ProviderState, output_url: str | None, error: str | None
) -> None:
    atlas = FakeAtlas()
    prediction = {"id": "pred_abc", "model": "m", "metrics": {"predict_time": 45.2}, **data}
    atlas.responses = [httpx.Response(200, json={"code": 200, "message": "success", "data": prediction})]

    update = atlas.provider().get_prediction("pred_abc")

    sent = atlas.seen[0]
    assert (sent.method, str(sent.url)) == ("GET", f"{BASE_URL}/api/v1/model/prediction/pred_abc")
    assert sent.headers["authorization"] == "Bearer atlas-key"
    assert (update.provider_job_id, update.state, update.output_url, update.error_message) == (
        "pred_abc",
        state,
        output_url,
        error,
    )


RUNNING = ["processing", "in_progress", "Running", "PENDING", "queued", "submitted", "created", "starting"]
DONE = ["completed", "succeeded", "Success", "COMPLETED"]
FAILED = ["failed", "error", "Cancelled", "canceled", "expired", "timeout", "Timed-Out"]
WORDS = status_words(running=RUNNING, done=DONE, failed=FAILED)


@pytest.mark.parametrize(("word", "state"), WORDS)
def test_status_words_are_read_with_tolerance_when_polling(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    atlas = FakeAtlas()
    atlas.responses = [created(status=word, outputs=[OUTPUT], error="GPU lost")]

    update = atlas.provider().get_prediction("pred_abc")

    assert update.state is state
    assert update.output_url == (OUTPUT if state is ProviderState.SUCCEEDED else None)
    assert update.error_message == ("GPU lost" if state is ProviderState.FAILED else None)
    assert logged_warnings == []


@pytest.mark.parametrize("word", ["exploded", None])
def test_an_unknown_status_word_when_polling_is_logged_and_means_still_running(
    word: str | None, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    atlas = FakeAtlas()
    atlas.responses = [created(status=word, outputs=[OUTPUT])]

    update = atlas.provider().get_prediction("pred_abc")

    assert (update.state, update.output_url) == (ProviderState.PROCESSING, None)
    ((message, fields),) = logged_warnings
    assert message == "unknown provider status word; read as still running"
    assert fields == {
        "provider": "atlascloud",
        "source": "status",
        "provider_job_id": "pred_abc",
        "status_word": word,
    }


def test_status_errors_are_mapped_like_create_errors() -> None:
    atlas = FakeAtlas()
    atlas.responses = [httpx.Response(404, json={"code": 404, "message": "prediction not found"})]

    with pytest.raises(ProviderError, match="prediction not found") as raised:
        atlas.provider().get_prediction("pred_gone")

    assert raised.value.retryable is False


# --- upload -----------------------------------------------------------------------------------------


def media(data: bytes, *, filename: str = "image.png", content_type: str = "image/png") -> MediaFile:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 1000):
            yield data[start : start + 1000]

    return MediaFile(
        filename=filename, content_type=content_type, kind="image", size_bytes=len(data), chunks=chunks()
    )


def form_parts(request: httpx.Request) -> list[tuple[str | None, str | None, str, bytes]]:
    """(name, filename, content type, bytes) of each part, parsed back by the standard library."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    assert message.get_content_type() == "multipart/form-data"
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        name = part.get_param("name", header="content-disposition")
        parts.append((str(name) if name else None, part.get_filename(), part.get_content_type(), payload))
    return parts


def test_upload_streams_one_file_part_with_a_content_length() -> None:
    atlas = FakeAtlas()
    data = bytes(index % 256 for index in range(5000))
    download_url = "https://storage.atlascloud.ai/uploads/abc123/image.png"
    atlas.responses = [
        httpx.Response(
            200,
            json={
                "code": 200,
                "message": "success",
                "data": {"download_url": download_url, "file_name": "image.png", "size": 5000},
            },
        )
    ]
    provider = atlas.provider()

    url = provider.upload_media(media(data))

    sent = atlas.seen[0]
    assert url == download_url
    assert isinstance(provider, MediaUploader)
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE_URL}/api/v1/model/uploadMedia")
    assert sent.headers["authorization"] == "Bearer atlas-key"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert sent.headers["content-length"] == str(len(sent.content))
    assert "transfer-encoding" not in sent.headers
    assert form_parts(sent) == [("file", "image.png", "image/png", data)]


@pytest.mark.parametrize(("status", "retryable"), [(413, False), (401, False), (503, True)])
def test_upload_errors_are_mapped_like_api_errors(status: int, retryable: bool) -> None:
    atlas = FakeAtlas()
    atlas.responses = [httpx.Response(status, json={"code": status, "message": "file too large"})]

    with pytest.raises(ProviderError, match="file too large") as raised:
        atlas.provider().upload_media(media(b"x" * 10))

    assert (raised.value.retryable, raised.value.status_code) == (retryable, status)


@pytest.mark.parametrize("actual", [b"short", b"much longer than declared"])
def test_an_upload_whose_source_does_not_match_its_declared_size_stops(actual: bytes) -> None:
    atlas = FakeAtlas()
    atlas.responses = [httpx.Response(200, json={"data": {"download_url": "https://x/u.png"}})]
    wrong = MediaFile(
        filename="a.png", content_type="image/png", kind="image", size_bytes=10, chunks=[actual]
    )

    with pytest.raises(ProviderError, match="declared"):
        atlas.provider().upload_media(wrong)


# --- webhooks ---------------------------------------------------------------------------------------


def prediction(**fields: object) -> dict[str, object]:
    """The prediction object a status GET returns in "data" (and a webhook in "payload")."""
    return {
        "id": "pred_abc",
        "status": "completed",
        "model": "bytedance/seedance-2.0/text-to-video",
        "outputs": [OUTPUT],
        "error": None,
        "metrics": {"predict_time": 60.0},
        "created_at": "2026-11-24T11:59:00Z",
        "completed_at": "2026-11-24T12:00:00Z",
        **fields,
    }


def envelope(verdict: str = "OK", envelope_error: object = None, **payload: object) -> dict[str, object]:
    """``verdict`` is the envelope's status (OK or ERROR); ``payload`` changes the prediction's fields."""
    return {
        "session_id": "pred_abc",
        "event_type": "video.task.terminal",
        "status": verdict,
        "payload": prediction(**payload),
        "error": envelope_error,
    }


def webhook_body(verdict: str = "OK", envelope_error: object = None, **payload: object) -> bytes:
    """A webhook as Atlas sends it: the envelope around the prediction."""
    return json.dumps(envelope(verdict, envelope_error, **payload)).encode()


def bare_body(**fields: object) -> bytes:
    """Our earlier reading: the prediction itself as the body."""
    return json.dumps(prediction(**fields)).encode()


def now_of(clock: FixedClock) -> int:
    return int(clock.now.timestamp())


@pytest.mark.parametrize("padded", [False, True])
def test_a_signed_webhook_parses_into_our_update(padded: bool) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body()

    update = atlas.provider(clock).parse_webhook(
        key.sign(body, now_of(clock), padded=padded), body, signing_secret="unused"
    )

    assert (update.provider_job_id, update.state, update.output_url) == (
        "pred_abc",
        ProviderState.SUCCEEDED,
        OUTPUT,
    )
    jwks_request = next(request for request in atlas.seen if str(request.url) == JWKS_URL)
    assert "authorization" not in jwks_request.headers


def test_header_names_are_case_insensitive() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body()
    headers = {name.upper(): value for name, value in key.sign(body, now_of(clock)).items()}

    update = atlas.provider(clock).parse_webhook(headers, body, signing_secret="unused")

    assert (update.state, update.output_url) == (ProviderState.SUCCEEDED, OUTPUT)


@pytest.mark.parametrize(
    ("body", "state", "output_url", "error"),
    [
        (webhook_body(), ProviderState.SUCCEEDED, OUTPUT, None),
        (
            webhook_body("ERROR", "content policy violation", status="failed", outputs=[]),
            ProviderState.FAILED,
            None,
            "content policy violation",
        ),
        (
            webhook_body("OK", None, status="failed", outputs=[], error="GPU lost"),
            ProviderState.FAILED,
            None,
            "GPU lost",
        ),
        (
            webhook_body("OK", "timed out", status="timeout", outputs=[]),
            ProviderState.FAILED,
            None,
            "timed out",
        ),
        (
            webhook_body("ERROR", None, status="failed", outputs=[], error="NSFW"),
            ProviderState.FAILED,
            None,
            "NSFW",
        ),
        (
            webhook_body("ERROR", {"message": "quota", "code": 7}, status="completed"),
            ProviderState.FAILED,
            None,
            "quota",
        ),
        (webhook_body("ERROR"), ProviderState.FAILED, None, "Atlas Cloud reported an error"),
        (webhook_body("ok"), ProviderState.SUCCEEDED, OUTPUT, None),
        (webhook_body("OK", status=None), ProviderState.SUCCEEDED, OUTPUT, None),
        (webhook_body("OK", status="processing", outputs=[]), ProviderState.PROCESSING, None, None),
    ],
    ids=[
        "OK completed",
        "ERROR",
        "OK but payload failed",
        "OK but payload timed out",
        "ERROR with the payload's error",
        "ERROR over a completed payload",
        "ERROR without words",
        "ok in lower case",
        "OK without payload status",
        "OK still processing",
    ],
)
def test_the_envelope_is_read_with_both_verdicts(
    body: bytes, state: ProviderState, output_url: str | None, error: str | None
) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()

    update = atlas.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert (update.provider_job_id, update.state, update.output_url, update.error_message) == (
        "pred_abc",
        state,
        output_url,
        error,
    )


@pytest.mark.parametrize(("word", "state"), WORDS)
def test_payload_status_words_are_read_with_tolerance(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body("OK", status=word, error="GPU lost")

    update = atlas.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert update.state is state
    assert logged_warnings == []


def test_an_unknown_payload_status_word_is_logged_and_means_still_running(
    logged_warnings: list[tuple[str, dict[str, Any]]],
) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body("OK", status="exploded")

    update = atlas.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert (update.state, update.output_url) == (ProviderState.PROCESSING, None)
    ((message, fields),) = logged_warnings
    assert message == "unknown provider status word; read as still running"
    assert (fields["source"], fields["status_word"], fields["provider_job_id"]) == (
        "webhook",
        "exploded",
        "pred_abc",
    )


def test_an_unknown_envelope_status_is_logged_and_the_payload_decides(
    logged_warnings: list[tuple[str, dict[str, Any]]],
) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body("PARTIAL")

    update = atlas.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert (update.state, update.output_url) == (ProviderState.SUCCEEDED, OUTPUT)
    assert [fields["envelope_status"] for _, fields in logged_warnings] == ["PARTIAL"]


def test_the_session_id_names_the_prediction() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    without_payload_id = {**envelope(), "payload": {"status": "completed", "outputs": [OUTPUT]}}
    only_payload_id = {key: value for key, value in envelope().items() if key != "session_id"}

    for document in (without_payload_id, only_payload_id):
        body = json.dumps(document).encode()
        update = atlas.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")
        assert (update.provider_job_id, update.state) == ("pred_abc", ProviderState.SUCCEEDED)


def test_a_payload_about_another_prediction_is_logged_and_the_session_id_wins(
    logged_warnings: list[tuple[str, dict[str, Any]]],
) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body(id="pred_other")
    headers = {**key.sign(body, now_of(clock)), "X-AtlasCloud-Webhook-Id": "whk_1"}

    update = atlas.provider(clock).parse_webhook(headers, body, signing_secret="")

    assert update.provider_job_id == "pred_abc"
    ((message, fields),) = logged_warnings
    assert "another prediction" in message
    assert (fields["payload_id"], fields["webhook_id"]) == ("pred_other", "whk_1")


@pytest.mark.parametrize(
    ("body", "state", "error"),
    [
        (bare_body(), ProviderState.SUCCEEDED, None),
        (
            json.dumps({"data": prediction(status="failed", outputs=[], error="GPU lost")}).encode(),
            ProviderState.FAILED,
            "GPU lost",
        ),
        (bare_body(status="processing", outputs=[]), ProviderState.PROCESSING, None),
    ],
    ids=["bare", "in data", "processing"],
)
def test_a_signed_bare_prediction_our_earlier_reading_is_still_accepted(
    body: bytes, state: ProviderState, error: str | None
) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()

    update = atlas.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert (update.provider_job_id, update.state, update.error_message) == ("pred_abc", state, error)


def test_a_signature_in_the_bare_header_is_read_when_the_ed25519_header_is_absent() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body()
    signed = key.sign(body, now_of(clock))
    moved = {
        **{name: value for name, value in signed.items() if not name.endswith("Ed25519")},
        "X-AtlasCloud-Webhook-Signature": signed["X-AtlasCloud-Webhook-Signature-Ed25519"],
    }
    hmac_only = {**moved, "X-AtlasCloud-Webhook-Signature": "ab" * 32}
    both = {**signed, "X-AtlasCloud-Webhook-Signature": "ab" * 32}

    assert (
        atlas.provider(clock).parse_webhook(moved, body, signing_secret="").state is ProviderState.SUCCEEDED
    )
    assert atlas.provider(clock).parse_webhook(both, body, signing_secret="").state is ProviderState.SUCCEEDED
    with pytest.raises(WebhookUnauthorized):
        atlas.provider(clock).parse_webhook(hmac_only, body, signing_secret="")


@pytest.mark.parametrize(
    "tamper",
    [
        "body changed",
        "forged signature",
        "wrong key",
        "wrong key id",
        "unknown key id",
        "stale",
        "from the future",
        "garbled",
        "signed without the timestamp",
    ],
)
def test_forged_or_stale_signatures_are_refused(tamper: str) -> None:
    key, other, impostor = SigningKey("k1"), SigningKey("k2"), SigningKey("k1")
    atlas, clock = FakeAtlas(key, other), FixedClock()
    body = webhook_body()
    now = now_of(clock)
    signed = key.sign(body, now)
    headers = {
        "body changed": key.sign(webhook_body("ERROR", status="failed"), now),
        "forged signature": {**signed, "X-AtlasCloud-Webhook-Signature-Ed25519": b64url(bytes(64))},
        "wrong key": impostor.sign(body, now),
        "wrong key id": {**signed, "X-AtlasCloud-Webhook-Key-Id": "k2"},
        "unknown key id": {**signed, "X-AtlasCloud-Webhook-Key-Id": "k9"},
        "stale": key.sign(body, now - 301),
        "from the future": key.sign(body, now + 301),
        "garbled": {**signed, "X-AtlasCloud-Webhook-Signature-Ed25519": "not*base64!"},
        "signed without the timestamp": {
            **signed,
            "X-AtlasCloud-Webhook-Signature-Ed25519": b64url(key.private.sign(body)),
        },
    }[tamper]

    with pytest.raises(WebhookUnauthorized):
        atlas.provider(clock).parse_webhook(headers, body, signing_secret="unused")


@pytest.mark.parametrize(
    "missing",
    [
        "X-AtlasCloud-Webhook-Timestamp",
        "X-AtlasCloud-Webhook-Key-Id",
        "X-AtlasCloud-Webhook-Signature-Ed25519",
    ],
)
def test_a_webhook_missing_a_signature_header_is_refused_without_fetching_keys(missing: str) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body()
    headers = {name: value for name, value in key.sign(body, now_of(clock)).items() if name != missing}

    with pytest.raises(WebhookUnauthorized):
        atlas.provider(clock).parse_webhook(headers, body, signing_secret="unused")

    assert atlas.jwks_fetches == 0


def test_a_timestamp_that_is_not_unix_seconds_is_refused() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    body = webhook_body()
    headers = {**key.sign(body, now_of(clock)), "X-AtlasCloud-Webhook-Timestamp": "2026-11-24T12:00:00Z"}

    with pytest.raises(WebhookUnauthorized):
        atlas.provider(clock).parse_webhook(headers, body, signing_secret="unused")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"status": "completed"}',
        json.dumps(
            {"event_type": "video.task.terminal", "status": "OK", "payload": {"status": "completed"}}
        ).encode(),
        json.dumps({**envelope(), "payload": "pred_abc"}).encode(),
        json.dumps({**envelope(), "session_id": 42}).encode(),
    ],
    ids=[
        "not json",
        "not an object",
        "bare without id",
        "no prediction named",
        "payload not an object",
        "odd id",
    ],
)
def test_an_authentic_webhook_of_the_wrong_shape_is_invalid_not_unauthorized(body: bytes) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()

    with pytest.raises(InvalidWebhook):
        atlas.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="unused")


def test_an_unknown_kid_refetches_and_picks_up_a_rotated_key() -> None:
    old, new = SigningKey("k-old"), SigningKey("k-new")
    atlas, clock = FakeAtlas(old), FixedClock()
    provider = atlas.provider(clock)
    first = webhook_body()
    provider.parse_webhook(old.sign(first, now_of(clock)), first, signing_secret="")
    clock.advance(30)
    atlas.keys = [new, old]  # the provider rotated: the new key signs, the old one stays listed

    second = json.dumps(
        {**envelope(), "session_id": "pred_def", "payload": prediction(id="pred_def")}
    ).encode()
    update = provider.parse_webhook(new.sign(second, now_of(clock)), second, signing_secret="")
    again = provider.parse_webhook(old.sign(first, now_of(clock)), first, signing_secret="")

    assert (update.provider_job_id, again.provider_job_id) == ("pred_def", "pred_abc")
    assert atlas.jwks_fetches == 2


def test_unknown_kids_refetch_at_most_once_per_second() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    provider = atlas.provider(clock)
    body = webhook_body()
    provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    for kid in ("forged-1", "forged-2", "forged-3"):
        clock.advance(0.3)
        with pytest.raises(WebhookUnauthorized):
            provider.parse_webhook(SigningKey(kid).sign(body, now_of(clock)), body, signing_secret="")
    assert atlas.jwks_fetches == 1

    clock.advance(0.2)  # a full second since the last fetch
    rotated = SigningKey("k2")
    atlas.keys.append(rotated)
    provider.parse_webhook(rotated.sign(body, now_of(clock)), body, signing_secret="")
    assert atlas.jwks_fetches == 2


def test_keys_that_are_not_ed25519_signing_keys_are_ignored() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    x25519 = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    atlas.extra_jwks = [
        {"kty": "RSA", "kid": "rsa", "n": "AQAB", "e": "AQAB"},
        {"kty": "OKP", "crv": "X25519", "kid": "x25519", "x": b64url(x25519)},
        {**key.jwk(), "kid": "enc", "use": "enc"},
        {**key.jwk(), "kid": "short", "x": b64url(b"too short")},
        {**key.jwk(), "kid": ""},
        {"kty": "OKP", "crv": "Ed25519"},
    ]
    provider = atlas.provider(clock)
    body = webhook_body()

    assert provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="").output_url == OUTPUT
    for kid in ("rsa", "x25519", "enc", "short"):
        headers = {**key.sign(body, now_of(clock)), "X-AtlasCloud-Webhook-Key-Id": kid}
        with pytest.raises(WebhookUnauthorized):
            provider.parse_webhook(headers, body, signing_secret="")


@pytest.mark.parametrize(
    "outage",
    [
        lambda: httpx.Response(503, json={"code": 503, "message": "unavailable"}),
        lambda: httpx.Response(404, text="not found"),
        lambda: httpx.Response(200, text="<html>maintenance</html>"),
        lambda: httpx.Response(200, json={"no": "keys"}),
    ],
    ids=["503", "404", "not json", "no keys"],
)
def test_a_jwks_outage_is_a_retryable_provider_error_not_a_401(outage: Callable[[], httpx.Response]) -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    atlas.jwks_down = outage
    body = webhook_body()

    with pytest.raises(ProviderError) as raised:
        atlas.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert raised.value.retryable is True


def test_an_unreachable_jwks_is_retryable_and_stays_so_within_the_refetch_interval() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()

    def unreachable() -> httpx.Response:
        raise httpx.ConnectTimeout("timed out")

    atlas.jwks_down = unreachable
    provider = atlas.provider(clock)
    body = webhook_body()

    for _ in range(2):
        with pytest.raises(ProviderError) as raised:
            provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")
        assert raised.value.retryable is True
    assert atlas.jwks_fetches == 1

    atlas.jwks_down = None
    clock.advance(1)
    assert provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="").output_url == OUTPUT


def unreachable() -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(
    "outage",
    [lambda: httpx.Response(500, json={"code": 500, "message": "internal error"}), unreachable],
    ids=["500", "connection error"],
)
def test_an_unknown_kid_is_refused_while_the_jwks_cannot_be_refetched(
    outage: Callable[[], httpx.Response],
) -> None:
    # Given keys cached from an earlier webhook, then the JWKS endpoint going down
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    provider = atlas.provider(clock)
    body = webhook_body()
    provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")
    atlas.jwks_down = outage
    clock.advance(2)  # past the refetch interval: the unknown kid makes the adapter try to refetch

    # When a webhook signed under a kid no cached entry knows arrives, and again at once
    for _ in range(2):
        with pytest.raises(ProviderError) as raised:
            provider.parse_webhook(SigningKey("k-new").sign(body, now_of(clock)), body, signing_secret="")

        # Then it is refused (retryable, so Atlas sends it again once the keys can be read), never parsed
        assert raised.value.retryable is True
    assert atlas.jwks_fetches == 2


def test_cached_keys_keep_verifying_while_the_jwks_is_down() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    provider = atlas.provider(clock)
    body = webhook_body()
    provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")
    atlas.jwks_down = lambda: httpx.Response(503)
    clock.advance(10)

    update = provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert update.state is ProviderState.SUCCEEDED
    assert atlas.jwks_fetches == 1


def test_concurrent_lookups_of_an_unknown_kid_share_one_fetch() -> None:
    key = SigningKey("k1")
    atlas, clock = FakeAtlas(key), FixedClock()
    atlas.jwks_delay = 0.05
    keys = JwksKeys(
        httpx.Client(transport=httpx.MockTransport(atlas.handle)),
        JWKS_URL,
        provider="atlascloud",
        clock=clock,
    )
    start = threading.Barrier(8)
    found: list[bool] = []

    def look_up() -> None:
        start.wait()
        found.append(keys.key("k1") is not None)

    threads = [threading.Thread(target=look_up) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert found == [True] * 8
    assert atlas.jwks_fetches == 1
