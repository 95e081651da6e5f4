"""The fal.ai dialect at its HTTP boundary (httpx.MockTransport): queue submits with fal_webhook, the
queue's own status/result/cancel URLs, Ed25519-signed webhooks checked against a JWKS without key ids
(https://docs.fal.ai/model-apis/model-endpoints/webhooks), and a submit that is never sent twice."""

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr

from tests.support import FixedClock
from videojobs.catalog.capabilities import check_request
from videojobs.errors import (
    CancelRefused,
    InvalidWebhook,
    ProviderError,
    RequestRejected,
    WebhookUnauthorized,
)
from videojobs.models import JobRequest, ProviderState, WebhookTarget
from videojobs.providers import UNITS
from videojobs.providers._jwks import decode_base64url
from videojobs.providers.fal import estimate_cost_usd
from videojobs.providers.fal.adapter import FalProvider

BASE_URL = "https://queue.fal.run"
JWKS_URL = "https://rest.alpha.fal.ai/.well-known/jwks.json"
WEBHOOK = WebhookTarget(url="https://api.example.com/webhooks/fal/j1?token=t.1", signing_secret="s3cret")
REQUEST_ID = "764cabcf-b745-4b3e-ae38-1200304cf45b"
REQUESTS = f"{BASE_URL}/bytedance/seedance-2.0/requests/{REQUEST_ID}"
LINKS = {"status_url": f"{REQUESTS}/status", "response_url": REQUESTS, "cancel_url": f"{REQUESTS}/cancel"}
OUTPUT = "https://v3b.fal.media/files/b/0a8eb/result.mp4"


def b64url(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKey:
    """One of fal's webhook keys: fal's JWKS entries carry no kid (its receivers try each key)."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()

    def jwk(self) -> dict[str, str]:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}

    def sign(
        self, body: bytes, timestamp: int, *, request_id: str = REQUEST_ID, user_id: str = "user-42"
    ) -> dict[str, str]:
        message = f"{request_id}\n{user_id}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode()
        return {
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": user_id,
            "X-Fal-Webhook-Timestamp": str(timestamp),
            "X-Fal-Webhook-Signature": self.private.sign(message).hex(),
        }


class FakeFal:
    """Answers the JWKS from ``keys`` (``jwks_down`` makes it fail) and API calls from ``responses``."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.jwks_down: Callable[[], httpx.Response] | None = None
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
            if self.jwks_down is not None:
                return self.jwks_down()
            return httpx.Response(200, json={"keys": [key.jwk() for key in self.keys]})
        return self.responses.pop(0)

    def api_calls(self) -> list[httpx.Request]:
        return [request for request in self.seen if str(request.url) != JWKS_URL]

    def provider(self, clock: FixedClock | None = None) -> FalProvider:
        return FalProvider(
            httpx.Client(transport=httpx.MockTransport(self.handle)),
            base_url=f"{BASE_URL}/",
            api_key=SecretStr("fal-key-id:fal-key-secret"),
            jwks_url=JWKS_URL,
            clock=clock or FixedClock(),
            max_webhook_age=timedelta(minutes=5),
        )


def queued(**fields: object) -> httpx.Response:
    """The submit's answer (https://docs.fal.ai/model-endpoints/queue)."""
    return httpx.Response(
        200, json={"request_id": REQUEST_ID, "gateway_request_id": REQUEST_ID, **LINKS, **fields}
    )


def sent_json(request: httpx.Request) -> dict[str, object]:
    body: dict[str, object] = json.loads(request.content)
    return body


def now_of(clock: FixedClock) -> int:
    return int(clock.now.timestamp())


# --- create -----------------------------------------------------------------------------------------


def test_text_to_video_posts_the_input_to_the_queue_with_our_webhook_and_a_key_header() -> None:
    fal = FakeFal()
    fal.responses = [queued()]
    request = JobRequest(
        provider="fal",
        prompt="sunset over the ocean",
        resolution="1080p",
        duration=8,
        aspect_ratio="21:9",
        generate_audio=False,
        seed=7,
    )

    receipt = fal.provider().create_prediction(request, WEBHOOK)

    sent = fal.seen[0]
    url = urlsplit(str(sent.url))
    assert sent.method == "POST"
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{BASE_URL}/bytedance/seedance-2.0/text-to-video"
    assert parse_qs(url.query) == {"fal_webhook": [WEBHOOK.url]}
    assert sent.headers["authorization"] == "Key fal-key-id:fal-key-secret"
    assert sent_json(sent) == {
        "prompt": "sunset over the ocean",
        "resolution": "1080p",
        "duration": "8",
        "aspect_ratio": "21:9",
        "generate_audio": False,
        "seed": 7,
    }
    assert b"s3cret" not in sent.content
    assert receipt.provider_job_id == REQUEST_ID
    assert receipt.links == LINKS


def test_unset_options_are_left_to_fal_which_picks_auto() -> None:
    fal = FakeFal()
    fal.responses = [queued()]

    fal.provider().create_prediction(JobRequest(provider="fal", prompt="p"), WEBHOOK)

    assert sent_json(fal.seen[0]) == {"prompt": "p", "resolution": "720p", "generate_audio": True}


@pytest.mark.parametrize(
    ("fields", "endpoint"),
    [
        ({}, "text-to-video"),
        ({"tier": "fast", "resolution": "480p"}, "fast/text-to-video"),
        ({"first_frame_url": "https://cdn.example.com/a.png"}, "image-to-video"),
        ({"tier": "fast", "first_frame_url": "https://cdn.example.com/a.png"}, "fast/image-to-video"),
        ({"reference_image_urls": ["https://cdn.example.com/1.png"]}, "reference-to-video"),
        (
            {"tier": "fast", "reference_video_urls": ["https://cdn.example.com/v.mp4"]},
            "fast/reference-to-video",
        ),
        ({"tier": "standard"}, "text-to-video"),
    ],
)
def test_the_tier_and_the_inputs_choose_one_of_the_six_endpoints(
    fields: dict[str, Any], endpoint: str
) -> None:
    fal = FakeFal()
    fal.responses = [queued()]

    fal.provider().create_prediction(JobRequest(provider="fal", prompt="p", **fields), WEBHOOK)

    assert urlsplit(str(fal.seen[0].url)).path == f"/bytedance/seedance-2.0/{endpoint}"


def test_image_to_video_sends_image_url_and_end_image_url() -> None:
    fal = FakeFal()
    fal.responses = [queued()]
    request = JobRequest(
        provider="fal",
        prompt="lion",
        first_frame_url="https://cdn.example.com/a.png",
        last_frame_url="https://cdn.example.com/b.png",
        duration=5,
    )

    fal.provider().create_prediction(request, WEBHOOK)

    body = sent_json(fal.seen[0])
    assert (body["image_url"], body["end_image_url"]) == (
        "https://cdn.example.com/a.png",
        "https://cdn.example.com/b.png",
    )
    assert not {"image_urls", "video_urls", "audio_urls"} & body.keys()


def test_reference_to_video_sends_the_three_lists() -> None:
    fal = FakeFal()
    fal.responses = [queued()]
    request = JobRequest(
        provider="fal",
        prompt="@Image1 walks through @Video1",
        reference_image_urls=["https://cdn.example.com/1.png", "https://cdn.example.com/2.png"],
        reference_video_urls=["https://cdn.example.com/v.mp4"],
        reference_audio_urls=["https://cdn.example.com/a.mp3"],
    )

    fal.provider().create_prediction(request, WEBHOOK)

    body = sent_json(fal.seen[0])
    assert body["image_urls"] == ["https://cdn.example.com/1.png", "https://cdn.example.com/2.png"]
    assert body["video_urls"] == ["https://cdn.example.com/v.mp4"]
    assert body["audio_urls"] == ["https://cdn.example.com/a.mp3"]
    assert "image_url" not in body


def test_a_submit_answer_without_the_urls_still_creates_the_job() -> None:
    fal = FakeFal()
    fal.responses = [httpx.Response(200, json={"request_id": REQUEST_ID})]

    receipt = fal.provider().create_prediction(JobRequest(provider="fal", prompt="p"), WEBHOOK)

    assert (receipt.provider_job_id, receipt.links) == (REQUEST_ID, {})


@pytest.mark.parametrize("answer", [{"status_url": "x"}, {"request_id": ""}, [REQUEST_ID]])
def test_an_unexpected_submit_answer_is_not_retried(answer: object) -> None:
    fal = FakeFal()
    fal.responses = [httpx.Response(200, json=answer)]

    with pytest.raises(ProviderError, match="unexpected shape") as raised:
        fal.provider().create_prediction(JobRequest(provider="fal", prompt="p"), WEBHOOK)

    assert raised.value.retryable is False


@pytest.mark.parametrize(
    ("status", "retryable", "ambiguous"),
    [
        (400, False, False),
        (401, False, False),
        (403, False, False),
        (422, False, False),
        (429, True, False),
        (500, True, False),
        (503, True, False),
        # fal's gateway answered for the queue: the request may be queued already.
        (502, True, True),
        (504, True, True),
    ],
)
def test_http_errors_on_submit_say_whether_to_retry_and_whether_the_job_may_exist(
    status: int, retryable: bool, ambiguous: bool
) -> None:
    fal = FakeFal()
    fal.responses = [httpx.Response(status, json={"detail": "prompt is required"})]

    with pytest.raises(ProviderError) as raised:
        fal.provider().create_prediction(JobRequest(provider="fal", prompt="p"), WEBHOOK)

    error = raised.value
    assert (error.retryable, error.status_code, error.ambiguous) == (retryable, status, ambiguous)
    assert "prompt is required" in str(error)
    assert len(fal.seen) == 1  # never sent twice


@pytest.mark.parametrize(
    ("failure", "ambiguous"),
    [
        (httpx.ConnectError("connection refused"), False),
        (httpx.ReadTimeout("no answer"), True),
        (httpx.RemoteProtocolError("server disconnected without sending a response"), True),
    ],
)
def test_a_submit_whose_answer_was_lost_is_ambiguous_and_sent_once(
    failure: Exception, ambiguous: bool
) -> None:
    calls: list[httpx.Request] = []

    def fail(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise failure

    provider = FalProvider(
        httpx.Client(transport=httpx.MockTransport(fail)),
        base_url=BASE_URL,
        api_key=SecretStr("fal-key"),
        jwks_url=JWKS_URL,
        clock=FixedClock(),
        max_webhook_age=timedelta(minutes=5),
    )

    with pytest.raises(ProviderError) as raised:
        provider.create_prediction(JobRequest(provider="fal", prompt="p"), WEBHOOK)

    assert (raised.value.retryable, raised.value.ambiguous) == (True, ambiguous)
    assert len(calls) == 1
    assert "fal-key" not in str(raised.value)


# --- status and result ------------------------------------------------------------------------------


def status(word: str, **fields: object) -> httpx.Response:
    code = 200 if word == "COMPLETED" else 202
    return httpx.Response(code, json={"status": word, "response_url": REQUESTS, **fields})


def result(url: str = OUTPUT) -> httpx.Response:
    video = {"url": url, "content_type": "video/mp4", "file_name": "result.mp4", "file_size": 1234}
    return httpx.Response(200, json={"video": video, "seed": 42})


@pytest.mark.parametrize("word", ["IN_QUEUE", "IN_PROGRESS"])
def test_a_queued_or_running_request_is_processing_read_from_the_status_url(word: str) -> None:
    fal = FakeFal()
    fal.responses = [status(word, queue_position=3)]

    update = fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    (sent,) = fal.seen
    assert (sent.method, str(sent.url)) == ("GET", LINKS["status_url"])
    assert sent.headers["authorization"] == "Key fal-key-id:fal-key-secret"
    assert (update.provider_job_id, update.state) == (REQUEST_ID, ProviderState.PROCESSING)


def test_a_completed_request_is_read_from_the_response_url() -> None:
    fal = FakeFal()
    fal.responses = [status("COMPLETED", metrics={"inference_time": 80.1}), result()]

    update = fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    assert [(request.method, str(request.url)) for request in fal.seen] == [
        ("GET", LINKS["status_url"]),
        ("GET", LINKS["response_url"]),
    ]
    assert (update.state, update.output_url) == (ProviderState.SUCCEEDED, OUTPUT)


def test_a_completed_status_carrying_an_error_failed_without_reading_the_result() -> None:
    fal = FakeFal()
    fal.responses = [status("COMPLETED", error="Request timed out", error_type="request_timeout")]

    update = fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    assert (update.state, update.error_message) == (
        ProviderState.FAILED,
        "request_timeout: Request timed out",
    )
    assert len(fal.seen) == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            httpx.Response(
                422,
                json={"detail": [{"loc": ["body", "image_url"], "msg": "could not load image", "type": "x"}]},
            ),
            "image_url: could not load image",
        ),
        (
            httpx.Response(
                504,
                json={"detail": "Request timed out", "error_type": "request_timeout"},
                headers={"X-Fal-Error-Type": "request_timeout"},
            ),
            "request_timeout: Request timed out",
        ),
        (
            httpx.Response(400, json={"detail": "content policy", "error_type": "content_policy_violation"}),
            "content_policy_violation: content policy",
        ),
    ],
    ids=["model validation", "request error", "error type in the body only"],
)
def test_a_completed_request_whose_result_is_an_error_failed(answer: httpx.Response, message: str) -> None:
    fal = FakeFal()
    fal.responses = [status("COMPLETED"), answer]

    update = fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    assert (update.state, update.error_message) == (ProviderState.FAILED, message)


@pytest.mark.parametrize(("code", "retryable"), [(502, True), (503, True), (401, False), (404, False)])
def test_a_result_read_that_fails_without_fal_naming_an_error_is_a_failed_read_not_a_failed_job(
    code: int, retryable: bool
) -> None:
    fal = FakeFal()
    fal.responses = [status("COMPLETED"), httpx.Response(code, text="<html>nginx</html>")]

    with pytest.raises(ProviderError) as raised:
        fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    assert (raised.value.status_code, raised.value.retryable) == (code, retryable)


def test_a_completed_result_without_a_video_is_success_without_output() -> None:
    fal = FakeFal()
    fal.responses = [status("COMPLETED"), httpx.Response(200, json={"seed": 1})]

    update = fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    assert (update.state, update.output_url) == (ProviderState.SUCCEEDED, None)


def test_a_job_adopted_by_its_webhook_has_no_links_and_uses_the_urls_built_from_owner_and_app() -> None:
    fal = FakeFal()
    fal.responses = [status("COMPLETED", response_url=None), result()]

    update = fal.provider().get_prediction(REQUEST_ID, links=None)

    assert [str(request.url) for request in fal.seen] == [f"{REQUESTS}/status", REQUESTS]
    assert update.output_url == OUTPUT


def test_links_outside_the_base_url_are_never_given_the_key(
    logged_warnings: list[tuple[str, dict[str, Any]]],
) -> None:
    fal = FakeFal()
    foreign = {name: url.replace(BASE_URL, "https://evil.example.com") for name, url in LINKS.items()}
    fal.responses = [status("COMPLETED", response_url="https://evil.example.com/r"), result()]

    fal.provider().get_prediction(REQUEST_ID, links=foreign)

    assert [str(request.url) for request in fal.seen] == [f"{REQUESTS}/status", REQUESTS]
    assert {fields["link"] for _, fields in logged_warnings} == {"status_url", "response_url"}


@pytest.mark.parametrize(
    ("word", "state"),
    [
        ("IN_QUEUE", ProviderState.PROCESSING),
        ("in-progress", ProviderState.PROCESSING),
        ("FAILED", ProviderState.FAILED),
        ("CANCELED", ProviderState.FAILED),
    ],
)
def test_status_words_are_read_with_tolerance(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    fal = FakeFal()
    fal.responses = [status(word)]

    update = fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    assert update.state is state
    assert logged_warnings == []


def test_an_unknown_status_word_is_logged_and_means_still_running(
    logged_warnings: list[tuple[str, dict[str, Any]]],
) -> None:
    fal = FakeFal()
    fal.responses = [status("WARMING_UP")]

    update = fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    assert update.state is ProviderState.PROCESSING
    ((message, fields),) = logged_warnings
    assert message == "unknown provider status word; read as still running"
    assert (fields["provider"], fields["source"], fields["status_word"]) == ("fal", "status", "WARMING_UP")


def test_status_errors_are_provider_errors() -> None:
    fal = FakeFal()
    fal.responses = [httpx.Response(404, json={"detail": "Request not found"})]

    with pytest.raises(ProviderError, match="Request not found") as raised:
        fal.provider().get_prediction(REQUEST_ID, links=LINKS)

    assert raised.value.retryable is False


# --- cancel -----------------------------------------------------------------------------------------


def test_cancel_puts_the_cancel_url_from_the_stored_links() -> None:
    fal = FakeFal()
    fal.responses = [httpx.Response(202, json={"status": "CANCELLATION_REQUESTED"})]

    fal.provider().cancel(REQUEST_ID, links=LINKS)

    (sent,) = fal.seen
    assert (sent.method, str(sent.url)) == ("PUT", LINKS["cancel_url"])
    assert sent.headers["authorization"] == "Key fal-key-id:fal-key-secret"


def test_cancel_without_links_puts_the_url_built_from_owner_and_app() -> None:
    fal = FakeFal()
    fal.responses = [httpx.Response(202, json={"status": "CANCELLATION_REQUESTED"})]

    fal.provider().cancel(REQUEST_ID, links=None)

    assert (fal.seen[0].method, str(fal.seen[0].url)) == ("PUT", f"{REQUESTS}/cancel")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx.Response(400, json={"status": "ALREADY_COMPLETED"}), "already completed"),
        (httpx.Response(200, json={"status": "ALREADY_COMPLETED"}), "already completed"),
        (httpx.Response(404, json={"status": "NOT_FOUND"}), "does not know"),
    ],
)
def test_fal_refusing_the_cancel_is_cancel_refused(answer: httpx.Response, reason: str) -> None:
    fal = FakeFal()
    fal.responses = [answer]

    with pytest.raises(CancelRefused, match=reason) as refused:
        fal.provider().cancel(REQUEST_ID, links=LINKS)

    assert refused.value.unsupported is False


@pytest.mark.parametrize(("code", "retryable"), [(500, True), (401, False)])
def test_a_failed_cancel_call_is_a_provider_error(code: int, retryable: bool) -> None:
    fal = FakeFal()
    fal.responses = [httpx.Response(code, json={"detail": "boom"})]

    with pytest.raises(ProviderError) as raised:
        fal.provider().cancel(REQUEST_ID, links=LINKS)

    assert raised.value.retryable is retryable


# --- webhooks ---------------------------------------------------------------------------------------


def webhook_body(verdict: str = "OK", **fields: object) -> bytes:
    """A webhook as fal sends it (https://docs.fal.ai/model-apis/model-endpoints/webhooks)."""
    document: dict[str, object] = {
        "request_id": REQUEST_ID,
        "gateway_request_id": REQUEST_ID,
        "status": verdict,
        "payload": {"video": {"url": OUTPUT, "content_type": "video/mp4"}, "seed": 42},
    }
    if verdict == "ERROR":
        document["error"] = "Invalid status code: 422"
        document["payload"] = {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}
    document.update(fields)
    return json.dumps(document).encode()


def test_a_signed_webhook_parses_into_our_update_with_keys_fetched_without_auth() -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body()

    update = fal.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="unused")

    assert (update.provider_job_id, update.state, update.output_url) == (
        REQUEST_ID,
        ProviderState.SUCCEEDED,
        OUTPUT,
    )
    jwks_request = next(request for request in fal.seen if str(request.url) == JWKS_URL)
    assert "authorization" not in jwks_request.headers


def test_header_names_are_case_insensitive() -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body()
    headers = {name.lower(): value for name, value in key.sign(body, now_of(clock)).items()}

    assert fal.provider(clock).parse_webhook(headers, body, signing_secret="").output_url == OUTPUT


def test_an_error_webhook_fails_the_job_with_fals_words() -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body("ERROR")

    update = fal.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert (update.state, update.error_message) == (
        ProviderState.FAILED,
        "Invalid status code: 422: prompt: field required",
    )


def test_an_ok_webhook_whose_payload_could_not_be_sent_leaves_the_result_to_the_status_checks(
    logged_warnings: list[tuple[str, dict[str, Any]]],
) -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body(payload=None, payload_error="Object of type bytes is not JSON serializable")

    update = fal.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert (update.state, update.output_url) == (ProviderState.PROCESSING, None)
    ((_, fields),) = logged_warnings
    assert fields["payload_error"] == "Object of type bytes is not JSON serializable"


def test_an_unknown_webhook_status_is_logged_and_means_still_running(
    logged_warnings: list[tuple[str, dict[str, Any]]],
) -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body("PARTIAL")

    update = fal.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert update.state is ProviderState.PROCESSING
    assert [fields["status_word"] for _, fields in logged_warnings] == ["PARTIAL"]


def test_a_header_request_id_naming_the_gateway_request_is_accepted_and_another_is_logged(
    logged_warnings: list[tuple[str, dict[str, Any]]],
) -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body(gateway_request_id="gw-2")

    by_gateway = key.sign(body, now_of(clock), request_id="gw-2")
    other = key.sign(body, now_of(clock), request_id="someone-else")

    assert (
        fal.provider(clock).parse_webhook(by_gateway, body, signing_secret="").state
        is ProviderState.SUCCEEDED
    )
    assert logged_warnings == []
    update = fal.provider(clock).parse_webhook(other, body, signing_secret="")
    assert update.provider_job_id == REQUEST_ID  # the signed body names the request
    assert [fields["header_request_id"] for _, fields in logged_warnings] == ["someone-else"]


@pytest.mark.parametrize(
    "tamper",
    [
        "body changed",
        "forged signature",
        "unknown key",
        "other user id",
        "other request id",
        "other timestamp",
        "stale",
        "from the future",
        "not hex",
        "short",
        "base64 instead of hex",
        "timestamp not unix seconds",
    ],
)
def test_forged_stale_or_unknown_key_signatures_are_refused(tamper: str) -> None:
    key, impostor = SigningKey(), SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body()
    now = now_of(clock)
    signed = key.sign(body, now)
    signature = bytes.fromhex(signed["X-Fal-Webhook-Signature"])
    headers = {
        "body changed": key.sign(webhook_body("ERROR"), now),
        "forged signature": {**signed, "X-Fal-Webhook-Signature": "ab" * 64},
        "unknown key": impostor.sign(body, now),
        "other user id": {**signed, "X-Fal-Webhook-User-Id": "user-43"},
        "other request id": {**signed, "X-Fal-Webhook-Request-Id": "other"},
        "other timestamp": {**signed, "X-Fal-Webhook-Timestamp": str(now - 1)},
        "stale": key.sign(body, now - 301),
        "from the future": key.sign(body, now + 301),
        "not hex": {**signed, "X-Fal-Webhook-Signature": "zz" * 64},
        "short": {**signed, "X-Fal-Webhook-Signature": signed["X-Fal-Webhook-Signature"][:-2]},
        "base64 instead of hex": {**signed, "X-Fal-Webhook-Signature": b64url(signature)},
        "timestamp not unix seconds": {**signed, "X-Fal-Webhook-Timestamp": "2026-11-24T12:00:00Z"},
    }[tamper]

    with pytest.raises(WebhookUnauthorized):
        fal.provider(clock).parse_webhook(headers, body, signing_secret="unused")


def test_a_signature_within_five_minutes_either_way_is_accepted() -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body()

    for skew in (-300, 300):
        headers = key.sign(body, now_of(clock) + skew)
        assert (
            fal.provider(clock).parse_webhook(headers, body, signing_secret="").state
            is ProviderState.SUCCEEDED
        )


@pytest.mark.parametrize(
    "missing",
    [
        "X-Fal-Webhook-Request-Id",
        "X-Fal-Webhook-User-Id",
        "X-Fal-Webhook-Timestamp",
        "X-Fal-Webhook-Signature",
    ],
)
def test_a_webhook_missing_a_signature_header_is_refused_without_fetching_keys(missing: str) -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    body = webhook_body()
    headers = {name: value for name, value in key.sign(body, now_of(clock)).items() if name != missing}

    with pytest.raises(WebhookUnauthorized):
        fal.provider(clock).parse_webhook(headers, body, signing_secret="unused")

    assert fal.jwks_fetches == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"status": "OK"}',
        json.dumps({"request_id": 42, "status": "OK"}).encode(),
        json.dumps({"request_id": "", "status": "OK"}).encode(),
    ],
    ids=["not json", "not an object", "no request id", "odd id", "empty id"],
)
def test_an_authentic_webhook_of_the_wrong_shape_is_invalid_not_unauthorized(body: bytes) -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()

    with pytest.raises(InvalidWebhook):
        fal.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="unused")


def test_a_rotated_key_is_picked_up_by_fetching_the_jwks_again_when_no_cached_key_verifies() -> None:
    old, new = SigningKey(), SigningKey()
    fal, clock = FakeFal(old), FixedClock()
    provider = fal.provider(clock)
    body = webhook_body()
    provider.parse_webhook(old.sign(body, now_of(clock)), body, signing_secret="")
    clock.advance(30)
    fal.keys = [new, old]  # fal rotated: the new key signs, the old one stays listed

    update = provider.parse_webhook(new.sign(body, now_of(clock)), body, signing_secret="")
    again = provider.parse_webhook(old.sign(body, now_of(clock)), body, signing_secret="")

    assert (update.state, again.state) == (ProviderState.SUCCEEDED, ProviderState.SUCCEEDED)
    assert fal.jwks_fetches == 2


def test_forged_signatures_refetch_the_keys_at_most_once_a_second() -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    provider = fal.provider(clock)
    body = webhook_body()
    provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    for _ in range(3):
        clock.advance(0.3)
        with pytest.raises(WebhookUnauthorized):
            provider.parse_webhook(SigningKey().sign(body, now_of(clock)), body, signing_secret="")
    assert fal.jwks_fetches == 1

    clock.advance(0.2)  # a full second since the last fetch
    rotated = SigningKey()
    fal.keys.append(rotated)
    provider.parse_webhook(rotated.sign(body, now_of(clock)), body, signing_secret="")
    assert fal.jwks_fetches == 2


@pytest.mark.parametrize(
    "outage",
    [
        lambda: httpx.Response(503, json={"detail": "unavailable"}),
        lambda: httpx.Response(200, text="<html>maintenance</html>"),
        lambda: httpx.Response(200, json={"no": "keys"}),
    ],
    ids=["503", "not json", "no keys"],
)
def test_a_jwks_outage_is_a_retryable_provider_error_not_a_401(outage: Callable[[], httpx.Response]) -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    fal.jwks_down = outage
    body = webhook_body()

    with pytest.raises(ProviderError) as raised:
        fal.provider(clock).parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")

    assert raised.value.retryable is True


def unreachable() -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(
    "outage",
    [lambda: httpx.Response(500, json={"detail": "internal error"}), unreachable],
    ids=["500", "connection error"],
)
def test_an_unknown_key_is_refused_while_the_jwks_cannot_be_refetched(
    outage: Callable[[], httpx.Response],
) -> None:
    # Given keys cached from an earlier webhook, then the JWKS endpoint going down
    key, impostor = SigningKey(), SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    provider = fal.provider(clock)
    body = webhook_body()
    provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")
    fal.jwks_down = outage
    clock.advance(2)  # past the refetch interval: the unknown key makes the adapter try to refetch

    # When a webhook signed by a key no cached entry knows arrives, and again at once
    for _ in range(2):
        with pytest.raises(ProviderError) as raised:
            provider.parse_webhook(impostor.sign(body, now_of(clock)), body, signing_secret="")

        # Then it is refused (retryable, so fal sends it again once the keys can be read), never parsed
        assert raised.value.retryable is True
    assert fal.jwks_fetches == 2
    assert fal.api_calls() == []


def test_cached_keys_keep_verifying_while_the_jwks_is_down() -> None:
    key = SigningKey()
    fal, clock = FakeFal(key), FixedClock()
    provider = fal.provider(clock)
    body = webhook_body()
    provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="")
    fal.jwks_down = lambda: httpx.Response(503)
    clock.advance(10)

    assert provider.parse_webhook(key.sign(body, now_of(clock)), body, signing_secret="").output_url == OUTPUT
    assert fal.jwks_fetches == 1


def test_keys_listed_with_or_without_a_kid_are_all_tried() -> None:
    first, second = SigningKey(), SigningKey()
    fal, clock = FakeFal(), FixedClock()
    fal.keys = [first, second]
    original_jwk = second.jwk
    second.jwk = lambda: {**original_jwk(), "kid": "k2", "use": "sig", "alg": "EdDSA"}  # type: ignore[method-assign]
    provider = fal.provider(clock)
    body = webhook_body()

    assert (
        provider.parse_webhook(second.sign(body, now_of(clock)), body, signing_secret="").output_url == OUTPUT
    )
    assert (
        provider.parse_webhook(first.sign(body, now_of(clock)), body, signing_secret="").output_url == OUTPUT
    )
    assert decode_base64url(first.jwk()["x"]) is not None


# --- capabilities and price -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"tier": "fast", "resolution": "1080p"}, "resolution"),
        ({"resolution": "4k"}, "resolution"),
        ({"tier": "mini", "resolution": "480p"}, "tier"),
        ({"end_user_id": "u1"}, "end_user_id"),
        ({"watermark": True}, "watermark"),
        (
            {
                "reference_image_urls": [f"https://cdn.example.com/{n}.png" for n in range(9)],
                "reference_video_urls": ["https://cdn.example.com/v.mp4"],
                "reference_audio_urls": [f"https://cdn.example.com/{n}.mp3" for n in range(3)],
            },
            "reference_image_urls",
        ),
        (
            {
                "first_frame_url": "https://cdn.example.com/a.png",
                "reference_image_urls": ["https://cdn.example.com/1.png"],
            },
            "reference_image_urls",
        ),
    ],
)
def test_requests_fal_cannot_serve_are_refused_naming_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(RequestRejected) as refused:
        check_request(JobRequest(provider="fal", prompt="p", **fields))

    assert refused.value.field == field


def test_twelve_files_in_all_are_accepted() -> None:
    check_request(
        JobRequest(
            provider="fal",
            prompt="p",
            reference_image_urls=[f"https://cdn.example.com/{n}.png" for n in range(8)],
            reference_video_urls=["https://cdn.example.com/v.mp4", "https://cdn.example.com/w.mp4"],
            reference_audio_urls=["https://cdn.example.com/1.mp3", "https://cdn.example.com/2.mp3"],
            resolution="1080p",
        )
    )


@pytest.mark.parametrize(
    ("fields", "usd"),
    [
        # 1280 × 720 × 24 / 1024 = 21600 tokens a second: $0.3024 standard, $0.24192 fast (the pages'
        # "$0.3024/second" and "$0.2419/second" at 720p).
        ({"duration": 5, "aspect_ratio": "16:9"}, 1.512),
        ({"duration": 5, "aspect_ratio": "16:9", "tier": "fast"}, 1.2096),
        # 480p 16:9 is 854 × 480.
        ({"duration": 10, "aspect_ratio": "16:9", "tier": "fast", "resolution": "480p"}, 1.076),
        # Video inputs: 15 input seconds counted (an upper bound), the price × 0.6: $0.14515 a second
        # fast, $0.1814 standard, as the reference-to-video pages say.
        (
            {
                "duration": 5,
                "aspect_ratio": "16:9",
                "tier": "fast",
                "reference_video_urls": ["https://cdn.example.com/v.mp4"],
            },
            2.903,
        ),
        ({"duration": 5, "aspect_ratio": "auto"}, None),
        ({"aspect_ratio": "16:9"}, None),
    ],
)
def test_the_cost_estimate_follows_fals_token_prices(fields: dict[str, Any], usd: float | None) -> None:
    request = JobRequest(provider="fal", prompt="p", **fields)

    assert estimate_cost_usd(request) == usd
    assert UNITS["fal"].estimate_cost_usd is estimate_cost_usd
