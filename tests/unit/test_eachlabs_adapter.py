"""The EachLabs dialect at its HTTP boundary (httpx.MockTransport): exact requests, strict webhooks."""

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.support import FixedClock, sign_eachlabs, status_words
from videojobs.errors import CancelRefused, InvalidWebhook, ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, ProviderState, WebhookTarget
from videojobs.providers.eachlabs.adapter import EachLabsProvider

WEBHOOK = WebhookTarget(url="https://api.example.com/webhooks/eachlabs/j1?token=t", signing_secret="s3cret")


def provider(handler: httpx.MockTransport, clock: FixedClock | None = None) -> EachLabsProvider:
    return EachLabsProvider(
        httpx.Client(transport=handler),
        base_url="https://api.eachlabs.ai/",
        api_key=SecretStr("key-123"),
        clock=clock or FixedClock(),
        max_webhook_age=timedelta(minutes=5),
    )


def capture(responses: list[httpx.Response]) -> tuple[list[httpx.Request], httpx.MockTransport]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    return seen, httpx.MockTransport(handle)


def created() -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "message": "ok", "predictionID": "pred-9"})


def test_text_to_video_request_is_exactly_the_documented_shape() -> None:
    seen, transport = capture([created()])
    request = JobRequest(
        provider="eachlabs", prompt="astronaut", resolution="720p", duration=6, aspect_ratio="16:9", seed=42
    )

    receipt = provider(transport).create_prediction(request, WEBHOOK)

    sent = seen[0]
    assert receipt.provider_job_id == "pred-9"
    assert (sent.method, str(sent.url)) == ("POST", "https://api.eachlabs.ai/v1/prediction")
    assert sent.headers["x-api-key"] == "key-123"
    assert json.loads(sent.content) == {
        "model": "bytedance-seedance-2-0-text-to-video-fast",
        "version": "0.0.1",
        "input": {
            "prompt": "astronaut",
            "resolution": "720p",
            "duration": "6",
            "aspect_ratio": "16:9",
            "generate_audio": True,
            "seed": "42",
        },
        "webhook_url": WEBHOOK.url,
        "webhook_secret": "s3cret",
    }


def test_a_first_frame_selects_image_to_video_with_start_and_end_images() -> None:
    seen, transport = capture([created()])
    request = JobRequest(
        provider="eachlabs",
        prompt="lion",
        first_frame_url="https://cdn.example.com/a.jpg",
        last_frame_url="https://cdn.example.com/b.jpg",
    )

    provider(transport).create_prediction(request, WEBHOOK)

    body = json.loads(seen[0].content)
    assert body["model"] == "bytedance-seedance-2-0-image-to-video-fast"
    assert body["input"]["image_url"] == "https://cdn.example.com/a.jpg"
    assert body["input"]["end_image_url"] == "https://cdn.example.com/b.jpg"
    assert "duration" not in body["input"]


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (401, False), (429, True), (503, True)])
def test_provider_errors_carry_the_message_and_say_whether_to_retry(status: int, retryable: bool) -> None:
    error = {"status": "error", "message": "Invalid input", "details": "prompt too long"}
    _, transport = capture([httpx.Response(status, json=error)])

    with pytest.raises(ProviderError) as raised:
        provider(transport).create_prediction(JobRequest(provider="eachlabs", prompt="p"), WEBHOOK)

    assert raised.value.retryable is retryable
    assert "prompt too long" in str(raised.value)


def webhook_body(**fields: object) -> bytes:
    return json.dumps(
        {"exec_id": "pred-9", "status": "succeeded", "output": "https://x/o.mp4", "error": "", **fields}
    ).encode()


def test_a_signed_webhook_parses_into_our_update() -> None:
    clock = FixedClock()
    body = webhook_body()
    headers = sign_eachlabs("s3cret", body, int(clock.now.timestamp()))

    update = provider(capture([])[1], clock).parse_webhook(headers, body, signing_secret="s3cret")

    assert update.provider_job_id == "pred-9"
    assert update.state is ProviderState.SUCCEEDED
    assert update.output_url == "https://x/o.mp4"


def test_a_failed_webhook_carries_the_error() -> None:
    clock = FixedClock()
    body = webhook_body(status="failed", output="", error="NSFW")
    headers = sign_eachlabs("s3cret", body, int(clock.now.timestamp()))

    update = provider(capture([])[1], clock).parse_webhook(headers, body, signing_secret="s3cret")

    assert (update.state, update.error_message, update.output_url) == (ProviderState.FAILED, "NSFW", None)


@pytest.mark.parametrize(
    "tamper",
    ["unsigned", "wrong secret", "body changed", "stale", "from the future"],
)
def test_forged_or_stale_signatures_are_refused(tamper: str) -> None:
    clock = FixedClock()
    body = webhook_body()
    now = int(clock.now.timestamp())
    headers = {
        "unsigned": {},
        "wrong secret": sign_eachlabs("other", body, now),
        "body changed": sign_eachlabs("s3cret", webhook_body(output="https://evil/o.mp4"), now),
        "stale": sign_eachlabs("s3cret", body, now - 301),
        "from the future": sign_eachlabs("s3cret", body, now + 301),
    }[tamper]

    with pytest.raises(WebhookUnauthorized):
        provider(capture([])[1], clock).parse_webhook(headers, body, signing_secret="s3cret")


def test_an_authentic_webhook_of_the_wrong_shape_names_the_field() -> None:
    clock = FixedClock()
    body = json.dumps({"status": "succeeded", "output": "https://x/o.mp4"}).encode()
    headers = sign_eachlabs("s3cret", body, int(clock.now.timestamp()))

    with pytest.raises(InvalidWebhook, match="exec_id"):
        provider(capture([])[1], clock).parse_webhook(headers, body, signing_secret="s3cret")


# --- status words, with tolerance (webhooks and status checks alike) --------------------------------

RUNNING = [
    "processing",
    "in_progress",
    "Running",
    "PENDING",
    "queued",
    "submitted",
    "starting",
    "In-Progress",
]
DONE = ["succeeded", "success", "Completed", "SUCCESS"]
FAILED = ["failed", "error", "Cancelled", "canceled", "EXPIRED"]
WORDS = status_words(running=RUNNING, done=DONE, failed=FAILED)


@pytest.mark.parametrize(("word", "state"), WORDS)
def test_webhook_status_words_are_read_with_tolerance(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    clock = FixedClock()
    body = webhook_body(status=word, error="NSFW" if state is ProviderState.FAILED else "")
    headers = sign_eachlabs("s3cret", body, int(clock.now.timestamp()))

    update = provider(capture([])[1], clock).parse_webhook(headers, body, signing_secret="s3cret")

    assert update.state is state
    assert update.output_url == ("https://x/o.mp4" if state is ProviderState.SUCCEEDED else None)
    assert update.error_message == ("NSFW" if state is ProviderState.FAILED else None)
    assert logged_warnings == []


@pytest.mark.parametrize(("word", "state"), WORDS)
def test_status_words_are_read_with_tolerance_when_polling(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    answer = {"id": "pred-9", "status": word, "output": "https://x/o.mp4", "message": "m", "details": "d"}
    _, transport = capture([httpx.Response(200, json=answer)])

    update = provider(transport).get_prediction("pred-9")

    assert update.state is state
    assert update.error_message == ("m; d" if state is ProviderState.FAILED else None)
    assert logged_warnings == []


@pytest.mark.parametrize("word", ["done", "exploded", None])
def test_an_unknown_status_word_is_logged_and_means_still_running(
    word: str | None, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    clock = FixedClock()
    body = webhook_body(status=word)
    headers = sign_eachlabs("s3cret", body, int(clock.now.timestamp()))
    _, transport = capture([httpx.Response(200, json={"id": "pred-9", "status": word})])
    eachlabs = provider(transport, clock)

    from_webhook = eachlabs.parse_webhook(headers, body, signing_secret="s3cret")
    from_status = eachlabs.get_prediction("pred-9")

    assert (from_webhook.state, from_status.state) == (ProviderState.PROCESSING, ProviderState.PROCESSING)
    assert [(message, fields["source"], fields["status_word"]) for message, fields in logged_warnings] == [
        ("unknown provider status word; read as still running", "webhook", word),
        ("unknown provider status word; read as still running", "status", word),
    ]
    assert all(fields["provider"] == "eachlabs" for _, fields in logged_warnings)
    assert all(fields["provider_job_id"] == "pred-9" for _, fields in logged_warnings)


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        ({"status": "processing", "output": None}, ProviderState.PROCESSING),
        ({"status": "success", "output": "https://x/o.mp4"}, ProviderState.SUCCEEDED),
        ({"status": "error", "message": "boom", "details": "gpu"}, ProviderState.FAILED),
    ],
)
def test_status_polling_maps_every_documented_status(
    payload: dict[str, object], state: ProviderState
) -> None:
    seen, transport = capture([httpx.Response(200, json={"id": "pred-9", **payload})])

    update = provider(transport).get_prediction("pred-9")

    assert str(seen[0].url) == "https://api.eachlabs.ai/v1/prediction/pred-9"
    assert update.state is state


# -- cancel (docs.eachlabs.ai/api-reference/ai-models-prediction/cancel-model-prediction) ---------------
def test_cancel_posts_to_the_predictions_cancel_path_and_takes_its_cancelled_answer() -> None:
    answer = {"status": "cancelled", "message": "Prediction canceled successfully", "predictionID": "p/1"}
    seen, transport = capture([httpx.Response(200, json=answer)])

    provider(transport).cancel("p/1")

    assert (seen[0].method, str(seen[0].url)) == (
        "POST",
        "https://api.eachlabs.ai/v1/prediction/p%2F1/cancel",
    )
    assert seen[0].headers["x-api-key"] == "key-123"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, json={"status": "error", "message": "Prediction cannot be cancelled"}),
        httpx.Response(404, json={"status": "error", "message": "Prediction not found"}),
        httpx.Response(200, json={"status": "success", "message": "already done"}),
    ],
)
def test_a_cancel_the_prediction_cannot_take_is_refused_not_unsupported(answer: httpx.Response) -> None:
    _, transport = capture([answer])

    with pytest.raises(CancelRefused) as refused:
        provider(transport).cancel("p-1")

    assert refused.value.unsupported is False


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (401, False)])
def test_a_cancel_that_failed_for_our_own_or_a_passing_reason_is_a_provider_error(
    status: int, retryable: bool
) -> None:
    _, transport = capture([httpx.Response(status, json={"status": "error", "message": "no"})])

    with pytest.raises(ProviderError) as failed:
        provider(transport).cancel("p-1")

    assert failed.value.retryable is retryable
