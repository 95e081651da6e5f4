"""The gateway dialect at its HTTP boundary (httpx.MockTransport): model ids from tier and resolution,
extra_body switches, compat operations, task polling; no webhook of any kind."""

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.support import status_words
from videojobs.errors import InvalidWebhook, ProviderError
from videojobs.models import JobRequest, Operation, ProviderState, Resolution, Tier, WebhookTarget
from videojobs.ports import MediaUploader
from videojobs.providers.gateway.adapter import GatewayProvider

BASE_URL = "https://gateway.example.com"
WEBHOOK = WebhookTarget(url="https://api.example.com/webhooks/gateway/j1?token=t", signing_secret="s3cret")
OUTPUT = "https://cdn.gateway.example.com/output.mp4"
LAST_FRAME = "https://cdn.gateway.example.com/output-last.png"


def capture(responses: list[httpx.Response]) -> tuple[list[httpx.Request], GatewayProvider]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    return seen, GatewayProvider(
        client, base_url=f"{BASE_URL}/", api_key=SecretStr("sk-gateway"), default_tier="standard"
    )


def task(**fields: object) -> dict[str, object]:
    return {
        "id": "task_9f",
        "task_id": "task_9f",
        "object": "video.generation.job",
        "model": "seedance2.0-720p",
        "status": "queued",
        "progress": 0,
        "created_at": 1795000000,
        **fields,
    }


def create(request: JobRequest) -> tuple[httpx.Request, dict[str, object]]:
    seen, provider = capture([httpx.Response(200, json=task())])
    receipt = provider.create_prediction(request, WEBHOOK)
    assert receipt.provider_job_id == "task_9f"
    body: dict[str, object] = json.loads(seen[0].content)
    return seen[0], body


def test_text_to_video_is_exactly_the_documented_shape_without_any_webhook() -> None:
    request = JobRequest(
        provider="gateway",
        prompt="product video",
        duration=8,
        aspect_ratio="16:9",
        generate_audio=False,
        seed=42,
        watermark=False,
    )

    sent, body = create(request)

    assert (sent.method, str(sent.url)) == ("POST", f"{BASE_URL}/v1/video/generations")
    assert sent.headers["authorization"] == "Bearer sk-gateway"
    assert body == {
        "model": "seedance2.0-720p",
        "prompt": "product video",
        "duration": 8,
        "aspect_ratio": "16:9",
        "extra_body": {"generate_audio": False, "seed": 42, "watermark": False},
    }
    assert b"webhook" not in sent.content
    assert b"callback" not in sent.content
    assert b"s3cret" not in sent.content


def test_unset_options_are_omitted() -> None:
    _, body = create(JobRequest(provider="gateway", prompt="p"))

    assert body == {"model": "seedance2.0-720p", "prompt": "p", "extra_body": {"generate_audio": True}}


@pytest.mark.parametrize(
    ("tier", "resolution", "model"),
    [
        (None, "480p", "seedance2.0-480p"),
        ("standard", "1080p", "seedance2.0-1080p"),
        ("standard", "4k", "seedance2.0-4k"),
        ("fast", "480p", "seedance2.0-fast-480p"),
        ("fast", "720p", "seedance2.0-fast-720p"),
        ("mini", "480p", "seedance2.0-mini-480p"),
        ("mini", "720p", "seedance2.0-mini-720p"),
    ],
)
def test_the_model_id_comes_from_tier_and_resolution(
    tier: Tier | None, resolution: Resolution, model: str
) -> None:
    _, body = create(JobRequest(provider="gateway", prompt="p", tier=tier, resolution=resolution))

    assert body["model"] == model


def test_first_and_last_frame_with_the_compat_operation() -> None:
    request = JobRequest(
        provider="gateway",
        prompt="morph",
        first_frame_url="https://cdn.example.com/a.png",
        last_frame_url="https://cdn.example.com/b.png",
        operation="first_last_frame",
        return_last_frame=True,
        camera_fixed=True,
    )

    _, body = create(request)

    assert body == {
        "model": "seedance2.0-720p",
        "prompt": "morph",
        "image": "https://cdn.example.com/a.png",
        "last_image": "https://cdn.example.com/b.png",
        "extra_body": {
            "generate_audio": True,
            "camera_fixed": True,
            "return_last_frame": True,
            "operation": "first_last_frame",
        },
    }


def test_image_to_video_without_an_operation_sends_just_the_image() -> None:
    _, body = create(
        JobRequest(provider="gateway", prompt="p", first_frame_url="https://cdn.example.com/a.png")
    )

    assert body["image"] == "https://cdn.example.com/a.png"
    assert "last_image" not in body
    assert body["extra_body"] == {"generate_audio": True}


@pytest.mark.parametrize(
    ("operation", "images", "videos", "audios"),
    [
        (None, ["https://cdn.example.com/model.png", "https://cdn.example.com/outfit.png"], [], []),
        ("reference_to_video", ["https://cdn.example.com/1.png"], ["https://cdn.example.com/v.mp4"], []),
        ("reference_to_video", [], ["https://cdn.example.com/v.mp4"], ["https://cdn.example.com/a.mp3"]),
        ("edit_video", ["https://cdn.example.com/1.png"], ["https://cdn.example.com/v.mp4"], []),
        ("extend_video", [], ["https://cdn.example.com/v.mp4"], []),
    ],
)
def test_references_go_in_images_videos_and_audios(
    operation: Operation | None, images: list[str], videos: list[str], audios: list[str]
) -> None:
    request = JobRequest(
        provider="gateway",
        prompt="p",
        tier="fast",
        reference_image_urls=images,
        reference_video_urls=videos,
        reference_audio_urls=audios,
        operation=operation,
    )

    _, body = create(request)

    assert body["model"] == "seedance2.0-fast-720p"
    assert body.get("images") == (images or None)
    assert body.get("videos") == (videos or None)
    assert body.get("audios") == (audios or None)
    assert body["extra_body"] == {"generate_audio": True, **({"operation": operation} if operation else {})}
    assert "image" not in body


def test_a_create_answer_with_only_an_id_and_any_status_is_read_too() -> None:
    seen, provider = capture([httpx.Response(200, json={"id": "task_1", "status": "submitted"})])

    assert (
        provider.create_prediction(JobRequest(provider="gateway", prompt="p"), WEBHOOK).provider_job_id
        == "task_1"
    )


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (422, False),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
    ],
)
def test_openai_style_errors_carry_the_message_and_say_whether_to_retry(status: int, retryable: bool) -> None:
    error = {
        "error": {"message": "duration must be 5-15", "type": "invalid_request_error", "code": "bad_duration"}
    }
    _, provider = capture([httpx.Response(status, json=error)])

    with pytest.raises(ProviderError) as raised:
        provider.create_prediction(JobRequest(provider="gateway", prompt="p"), WEBHOOK)

    assert (raised.value.retryable, raised.value.status_code) == (retryable, status)
    assert "duration must be 5-15 (bad_duration)" in str(raised.value)


def test_transport_errors_are_retryable() -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    provider = GatewayProvider(
        httpx.Client(transport=httpx.MockTransport(reset)),
        base_url=BASE_URL,
        api_key=SecretStr("sk-gateway"),
        default_tier="standard",
    )

    with pytest.raises(ProviderError, match="gave no answer") as raised:
        provider.get_prediction("task_9f")

    assert raised.value.retryable is True
    assert raised.value.ambiguous is True


@pytest.mark.parametrize("answer", [{"status": "queued"}, {"task_id": "", "status": "queued"}, "task_9f"])
def test_a_create_answer_without_a_task_id_is_not_retried(answer: object) -> None:
    _, provider = capture([httpx.Response(200, json=answer)])

    with pytest.raises(ProviderError, match="unexpected shape") as raised:
        provider.create_prediction(JobRequest(provider="gateway", prompt="p"), WEBHOOK)

    assert raised.value.retryable is False


@pytest.mark.parametrize(
    ("fields", "state", "output_url", "last_frame_url", "error"),
    [
        ({"status": "queued", "progress": 0}, ProviderState.PROCESSING, None, None, None),
        ({"status": "processing", "progress": 40}, ProviderState.PROCESSING, None, None, None),
        (
            {"status": "completed", "progress": 100, "video_url": OUTPUT},
            ProviderState.SUCCEEDED,
            OUTPUT,
            None,
            None,
        ),
        (
            {"status": "completed", "progress": 100, "video_url": OUTPUT, "last_frame_url": LAST_FRAME},
            ProviderState.SUCCEEDED,
            OUTPUT,
            LAST_FRAME,
            None,
        ),
        (
            {"status": "failed", "error": {"message": "content policy", "code": "moderation"}},
            ProviderState.FAILED,
            None,
            None,
            "content policy",
        ),
        (
            {"status": "failed", "error": "upstream timeout"},
            ProviderState.FAILED,
            None,
            None,
            "upstream timeout",
        ),
        ({"status": "failed"}, ProviderState.FAILED, None, None, None),
    ],
)
def test_status_polling_maps_every_status_word(
    fields: dict[str, object],
    state: ProviderState,
    output_url: str | None,
    last_frame_url: str | None,
    error: str | None,
) -> None:
    seen, provider = capture([httpx.Response(200, json=task(**fields))])

    update = provider.get_prediction("task_9f")

    assert (seen[0].method, str(seen[0].url)) == ("GET", f"{BASE_URL}/v1/videos/task_9f")
    assert seen[0].headers["authorization"] == "Bearer sk-gateway"
    assert (
        update.provider_job_id,
        update.state,
        update.output_url,
        update.last_frame_url,
        update.error_message,
    ) == (
        "task_9f",
        state,
        output_url,
        last_frame_url,
        error,
    )


RUNNING = ["queued", "in_progress", "Running", "PENDING", "submitted", "starting", "in_queue", "IN-PROGRESS"]
DONE = ["completed", "Succeeded", "SUCCESS"]
FAILED = ["failed", "Error", "cancelled", "canceled", "expired"]
WORDS = status_words(running=RUNNING, done=DONE, failed=FAILED)


@pytest.mark.parametrize(("word", "state"), WORDS)
def test_status_words_are_read_with_tolerance(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    fields = {"video_url": OUTPUT, "error": {"message": "content policy", "code": "moderation"}}
    _, provider = capture([httpx.Response(200, json=task(status=word, **fields))])

    update = provider.get_prediction("task_9f")

    assert update.state is state
    assert update.output_url == (OUTPUT if state is ProviderState.SUCCEEDED else None)
    assert update.error_message == ("content policy" if state is ProviderState.FAILED else None)
    assert logged_warnings == []


@pytest.mark.parametrize("word", ["exploded", "", None])
def test_an_unknown_status_word_is_logged_and_means_still_running(
    word: str | None, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    _, provider = capture([httpx.Response(200, json=task(status=word, video_url=OUTPUT))])

    update = provider.get_prediction("task_9f")

    assert (update.state, update.output_url) == (ProviderState.PROCESSING, None)
    ((message, fields),) = logged_warnings
    assert message == "unknown provider status word; read as still running"
    assert fields == {
        "provider": "gateway",
        "source": "status",
        "provider_job_id": "task_9f",
        "status_word": word,
    }


def test_a_task_that_is_no_object_is_still_an_unexpected_shape() -> None:
    _, provider = capture([httpx.Response(200, json=["task_9f", "completed"])])

    with pytest.raises(ProviderError, match="unexpected shape") as raised:
        provider.get_prediction("task_9f")

    assert raised.value.retryable is False


def test_the_gateway_never_calls_back_and_has_no_upload_endpoint() -> None:
    _, provider = capture([])

    with pytest.raises(InvalidWebhook):
        provider.parse_webhook({}, json.dumps(task(status="completed")).encode(), signing_secret="s3cret")
    assert not isinstance(provider, MediaUploader)
