"""The BytePlus ModelArk dialect at its HTTP boundary (httpx.MockTransport): prompt and media as content[]
items with roles, the model chosen by tier, unsigned callbacks read only for the task id, a cancel that
deletes only a queued task."""

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.support import status_words
from videojobs.errors import CancelRefused, InvalidWebhook, ProviderError
from videojobs.models import JobRequest, ProviderState, WebhookTarget, utc_now
from videojobs.providers import UNITS
from videojobs.providers.byteplus import BytePlusSettings, estimate_cost_usd
from videojobs.providers.byteplus.adapter import BytePlusProvider
from videojobs.providers.unit import AdapterContext, ProviderSettingsError

BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
TASKS = f"{BASE_URL}/contents/generations/tasks"
WEBHOOK = WebhookTarget(url="https://api.example.com/webhooks/byteplus/j1?token=t", signing_secret="s3cret")
OUTPUT = "https://ark-content-generation-v2-ap-southeast-1.tos-ap-southeast-1.bytepluses.com/v.mp4"
LAST_FRAME = "https://ark-content-generation-v2-ap-southeast-1.tos-ap-southeast-1.bytepluses.com/v.png"
MODELS = {
    "standard": "dreamina-seedance-2-0-260128",
    "fast": "dreamina-seedance-2-0-fast-260128",
    "mini": "dreamina-seedance-2-0-mini-260615",
}


def capture(
    responses: list[httpx.Response], *, execution_expires_after: int | None = None
) -> tuple[list[httpx.Request], BytePlusProvider]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    provider = BytePlusProvider(
        client,
        base_url=f"{BASE_URL}/",
        api_key=SecretStr("ark-key"),
        models=MODELS,
        default_tier="standard",
        execution_expires_after=execution_expires_after,
    )
    return seen, provider


def task(**fields: object) -> dict[str, object]:
    return {
        "id": "cgt-20260101-abcd",
        "model": "dreamina-seedance-2-0-260128",
        "status": "running",
        "created_at": 1795000000,
        "updated_at": 1795000010,
        **fields,
    }


def create(request: JobRequest, **options: Any) -> tuple[httpx.Request, dict[str, Any]]:
    seen, provider = capture([httpx.Response(200, json={"id": "cgt-20260101-abcd"})], **options)
    assert provider.create_prediction(request, WEBHOOK).provider_job_id == "cgt-20260101-abcd"
    body: dict[str, Any] = json.loads(seen[0].content)
    return seen[0], body


def text(prompt: str) -> dict[str, object]:
    return {"type": "text", "text": prompt}


# --- create -----------------------------------------------------------------------------------------


def test_text_to_video_sends_the_prompt_as_content_and_our_callback_url() -> None:
    request = JobRequest(
        provider="byteplus",
        prompt="rainy neon street",
        resolution="1080p",
        duration=5,
        aspect_ratio="16:9",
        seed=12345,
        watermark=False,
        return_last_frame=True,
    )

    sent, body = create(request, execution_expires_after=7200)

    assert (sent.method, str(sent.url)) == ("POST", TASKS)
    assert sent.headers["authorization"] == "Bearer ark-key"
    assert body == {
        "model": "dreamina-seedance-2-0-260128",
        "content": [text("rainy neon street")],
        "callback_url": WEBHOOK.url,
        "generate_audio": True,
        "resolution": "1080p",
        "ratio": "16:9",
        "duration": 5,
        "seed": 12345,
        "watermark": False,
        "return_last_frame": True,
        "execution_expires_after": 7200,
    }
    assert b"s3cret" not in sent.content


def test_unset_options_are_omitted_auto_duration_is_minus_one_and_auto_ratio_is_adaptive() -> None:
    _, plain = create(JobRequest(provider="byteplus", prompt="p", generate_audio=False))
    _, adaptive = create(JobRequest(provider="byteplus", prompt="p", aspect_ratio="auto"))

    assert plain == {
        "model": "dreamina-seedance-2-0-260128",
        "content": [text("p")],
        "callback_url": WEBHOOK.url,
        "generate_audio": False,
        "resolution": "720p",
        "duration": -1,
    }
    assert adaptive["ratio"] == "adaptive"


@pytest.mark.parametrize(("tier", "model"), [(None, MODELS["standard"]), *MODELS.items()])
def test_the_tier_chooses_the_model(tier: Any, model: str) -> None:
    _, body = create(JobRequest(provider="byteplus", prompt="p", tier=tier))

    assert body["model"] == model


def test_first_and_last_frames_are_image_items_with_their_roles() -> None:
    request = JobRequest(
        provider="byteplus",
        prompt="p",
        first_frame_url="https://cdn.example.com/first.png",
        last_frame_url="https://cdn.example.com/last.png",
    )

    _, body = create(request)

    assert body["content"] == [
        text("p"),
        {
            "type": "image_url",
            "image_url": {"url": "https://cdn.example.com/first.png"},
            "role": "first_frame",
        },
        {"type": "image_url", "image_url": {"url": "https://cdn.example.com/last.png"}, "role": "last_frame"},
    ]


def test_references_are_items_of_their_own_type_with_reference_roles() -> None:
    request = JobRequest(
        provider="byteplus",
        prompt="p",
        reference_image_urls=["https://cdn.example.com/a.png", "https://cdn.example.com/b.png"],
        reference_video_urls=["https://cdn.example.com/ref.mp4"],
        reference_audio_urls=["https://cdn.example.com/ref.mp3"],
    )

    _, body = create(request)

    assert body["content"] == [
        text("p"),
        {
            "type": "image_url",
            "image_url": {"url": "https://cdn.example.com/a.png"},
            "role": "reference_image",
        },
        {
            "type": "image_url",
            "image_url": {"url": "https://cdn.example.com/b.png"},
            "role": "reference_image",
        },
        {
            "type": "video_url",
            "video_url": {"url": "https://cdn.example.com/ref.mp4"},
            "role": "reference_video",
        },
        {
            "type": "audio_url",
            "audio_url": {"url": "https://cdn.example.com/ref.mp3"},
            "role": "reference_audio",
        },
    ]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (429, True), (500, True), (503, True)],
)
def test_errors_carry_modelark_s_code_and_say_whether_to_retry(status: int, retryable: bool) -> None:
    answer = {
        "error": {
            "code": "InvalidParameter",
            "message": "One or more parameters specified in the request are not valid.",
            "param": "duration",
            "type": "BadRequest",
        }
    }
    _, provider = capture([httpx.Response(status, json=answer, headers={"Retry-After": "7"})])

    with pytest.raises(ProviderError) as raised:
        provider.create_prediction(JobRequest(provider="byteplus", prompt="p"), WEBHOOK)

    assert (raised.value.retryable, raised.value.status_code) == (retryable, status)
    assert raised.value.ambiguous is False
    assert raised.value.retry_after_seconds == 7
    assert "are not valid. (InvalidParameter)" in str(raised.value)


@pytest.mark.parametrize(
    "error",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response"),
    ],
)
def test_a_create_whose_answer_was_lost_is_ambiguous_and_never_retried_here(error: httpx.HTTPError) -> None:
    calls: list[httpx.Request] = []

    def lost(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise error

    provider = BytePlusProvider(
        httpx.Client(transport=httpx.MockTransport(lost)),
        base_url=BASE_URL,
        api_key=SecretStr("ark-key"),
        models=MODELS,
        default_tier="standard",
    )

    with pytest.raises(ProviderError, match="gave no answer") as raised:
        provider.create_prediction(JobRequest(provider="byteplus", prompt="p"), WEBHOOK)

    assert (raised.value.retryable, raised.value.ambiguous) == (True, True)
    assert len(calls) == 1


def test_a_create_that_never_left_is_not_ambiguous() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    provider = BytePlusProvider(
        httpx.Client(transport=httpx.MockTransport(refused)),
        base_url=BASE_URL,
        api_key=SecretStr("ark-key"),
        models=MODELS,
        default_tier="standard",
    )

    with pytest.raises(ProviderError, match="unreachable") as raised:
        provider.create_prediction(JobRequest(provider="byteplus", prompt="p"), WEBHOOK)

    assert (raised.value.retryable, raised.value.ambiguous) == (True, False)


def test_a_non_json_success_is_retryable_and_a_wrong_shape_is_not() -> None:
    _, provider = capture([httpx.Response(200, text="<html>"), httpx.Response(200, json={"task": "x"})])
    request = JobRequest(provider="byteplus", prompt="p")

    with pytest.raises(ProviderError, match="non-JSON") as non_json:
        provider.create_prediction(request, WEBHOOK)
    with pytest.raises(ProviderError, match="unexpected shape") as wrong_shape:
        provider.create_prediction(request, WEBHOOK)

    assert (non_json.value.retryable, wrong_shape.value.retryable) == (True, False)


# --- status and callbacks ---------------------------------------------------------------------------

STATUS_CASES = [
    ({"status": "queued"}, ProviderState.PROCESSING, None, None, None),
    ({"status": "running"}, ProviderState.PROCESSING, None, None, None),
    (
        {"status": "succeeded", "content": {"video_url": OUTPUT}, "usage": {"completion_tokens": 108900}},
        ProviderState.SUCCEEDED,
        OUTPUT,
        None,
        None,
    ),
    (
        {"status": "succeeded", "content": {"video_url": OUTPUT, "last_frame_url": LAST_FRAME}},
        ProviderState.SUCCEEDED,
        OUTPUT,
        LAST_FRAME,
        None,
    ),
    ({"status": "succeeded", "content": None}, ProviderState.SUCCEEDED, None, None, None),
    (
        {
            "status": "failed",
            "error": {
                "code": "OutputVideoSensitiveContentDetected",
                "message": "The request failed because the output video may contain sensitive information.",
            },
        },
        ProviderState.FAILED,
        None,
        None,
        "The request failed because the output video may contain sensitive information. "
        "(OutputVideoSensitiveContentDetected)",
    ),
    (
        {"status": "failed", "error": {"code": "InternalServiceError"}},
        ProviderState.FAILED,
        None,
        None,
        "InternalServiceError",
    ),
    ({"status": "expired", "error": None}, ProviderState.FAILED, None, None, "task expired"),
    ({"status": "cancelled"}, ProviderState.FAILED, None, None, "task cancelled"),
]


@pytest.mark.parametrize(("fields", "state", "output_url", "last_frame_url", "error"), STATUS_CASES)
def test_a_status_read_maps_every_documented_status(
    fields: dict[str, object],
    state: ProviderState,
    output_url: str | None,
    last_frame_url: str | None,
    error: str | None,
) -> None:
    seen, provider = capture([httpx.Response(200, json=task(**fields))])

    update = provider.get_prediction("cgt-20260101-abcd")

    assert (seen[0].method, str(seen[0].url)) == ("GET", f"{TASKS}/cgt-20260101-abcd")
    assert seen[0].headers["authorization"] == "Bearer ark-key"
    assert (
        update.provider_job_id,
        update.state,
        update.output_url,
        update.last_frame_url,
        update.error_message,
    ) == ("cgt-20260101-abcd", state, output_url, last_frame_url, error)


@pytest.mark.parametrize(("fields", "state", "output_url", "last_frame_url", "error"), STATUS_CASES)
def test_a_callback_body_is_the_task_object_and_parses_like_a_status_answer(
    fields: dict[str, object],
    state: ProviderState,
    output_url: str | None,
    last_frame_url: str | None,
    error: str | None,
) -> None:
    _, provider = capture([])

    update = provider.parse_webhook({}, json.dumps(task(**fields)).encode(), signing_secret="s3cret")

    assert (
        update.provider_job_id,
        update.state,
        update.output_url,
        update.last_frame_url,
        update.error_message,
    ) == ("cgt-20260101-abcd", state, output_url, last_frame_url, error)


def test_an_unsigned_callback_needs_no_headers_and_makes_no_call() -> None:
    seen, provider = capture([])

    update = provider.parse_webhook({}, json.dumps(task(status="succeeded")).encode(), signing_secret="")

    assert update.state is ProviderState.SUCCEEDED
    assert seen == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"cgt-1"',
        json.dumps(task(id="")).encode(),
        json.dumps(task(id=7)).encode(),
        json.dumps({"status": "succeeded"}).encode(),
    ],
)
def test_a_callback_that_names_no_task_is_invalid(body: bytes) -> None:
    _, provider = capture([])

    with pytest.raises(InvalidWebhook):
        provider.parse_webhook({}, body, signing_secret="s3cret")


def test_a_callback_of_an_odd_shape_still_names_its_task_for_the_status_check() -> None:
    _, provider = capture([])
    body = task(status="succeeded", content="not an object", error=["odd"])

    update = provider.parse_webhook({}, json.dumps(body).encode(), signing_secret="s3cret")

    assert (update.provider_job_id, update.state, update.output_url) == (
        "cgt-20260101-abcd",
        ProviderState.PROCESSING,
        None,
    )


RUNNING = ["queued", "running", "Running", "in_progress", "PENDING"]
DONE = ["succeeded", "Succeeded", "completed"]
FAILED = ["failed", "cancelled", "canceled", "expired", "EXPIRED"]
WORDS = status_words(running=RUNNING, done=DONE, failed=FAILED)


@pytest.mark.parametrize(("word", "state"), WORDS)
def test_status_words_are_read_with_tolerance_when_polling_and_in_callbacks(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    answer = task(status=word, content={"video_url": OUTPUT}, error={"code": "X", "message": "blocked"})
    _, provider = capture([httpx.Response(200, json=answer)])

    from_status = provider.get_prediction("cgt-20260101-abcd")
    from_callback = provider.parse_webhook({}, json.dumps(answer).encode(), signing_secret="")

    assert from_status == from_callback
    assert from_status.state is state
    assert from_status.output_url == (OUTPUT if state is ProviderState.SUCCEEDED else None)
    assert from_status.error_message == ("blocked (X)" if state is ProviderState.FAILED else None)
    assert logged_warnings == []


@pytest.mark.parametrize("word", ["exploded", None])
def test_an_unknown_status_word_is_logged_and_means_still_running(
    word: str | None, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    _, provider = capture([httpx.Response(200, json=task(status=word, content={"video_url": OUTPUT}))])

    update = provider.get_prediction("cgt-20260101-abcd")

    assert (update.state, update.output_url) == (ProviderState.PROCESSING, None)
    ((message, fields),) = logged_warnings
    assert message == "unknown provider status word; read as still running"
    assert fields == {
        "provider": "byteplus",
        "source": "status",
        "provider_job_id": "cgt-20260101-abcd",
        "status_word": word,
    }


def test_a_task_id_is_quoted_into_the_path() -> None:
    seen, provider = capture([httpx.Response(200, json=task())])

    provider.get_prediction("cgt/../x")

    assert str(seen[0].url) == f"{TASKS}/cgt%2F..%2Fx"


def test_a_status_read_of_a_deleted_task_is_an_error_that_does_not_retry() -> None:
    not_found = {"error": {"code": "ResourceNotFound", "message": "task not found", "type": "NotFound"}}
    _, provider = capture([httpx.Response(404, json=not_found)])

    with pytest.raises(ProviderError) as raised:
        provider.get_prediction("cgt-gone")

    assert (raised.value.retryable, raised.value.status_code) == (False, 404)


# --- cancel -----------------------------------------------------------------------------------------


def test_a_queued_task_is_cancelled_with_delete() -> None:
    seen, provider = capture([httpx.Response(200, json=task(status="queued")), httpx.Response(200, json={})])

    provider.cancel("cgt-20260101-abcd")

    assert [(request.method, str(request.url)) for request in seen] == [
        ("GET", f"{TASKS}/cgt-20260101-abcd"),
        ("DELETE", f"{TASKS}/cgt-20260101-abcd"),
    ]
    assert seen[1].headers["authorization"] == "Bearer ark-key"


def test_a_delete_answered_with_an_empty_body_is_a_cancel() -> None:
    _, provider = capture([httpx.Response(200, json=task(status="queued")), httpx.Response(200)])

    provider.cancel("cgt-20260101-abcd")


@pytest.mark.parametrize("status", ["running", "succeeded", "failed", "expired", "cancelled", None])
def test_a_task_that_is_not_queued_is_refused_without_a_delete(status: str | None) -> None:
    # DELETE on a finished task would delete its record (and output): never sent for one.
    seen, provider = capture([httpx.Response(200, json=task(status=status))])

    with pytest.raises(CancelRefused) as refused:
        provider.cancel("cgt-20260101-abcd")

    assert not refused.value.unsupported
    assert [request.method for request in seen] == ["GET"]


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_a_delete_refused_because_the_task_started_meanwhile_is_cancel_refused(status: int) -> None:
    refusal = {"error": {"code": "InvalidParameter", "message": "task is running", "type": "BadRequest"}}
    _, provider = capture(
        [httpx.Response(200, json=task(status="queued")), httpx.Response(status, json=refusal)]
    )

    with pytest.raises(CancelRefused, match="task is running"):
        provider.cancel("cgt-20260101-abcd")


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (429, True), (500, True), (503, True)])
def test_a_delete_that_fails_is_a_provider_error(status: int, retryable: bool) -> None:
    _, provider = capture(
        [httpx.Response(200, json=task(status="queued")), httpx.Response(status, text="upstream trouble")]
    )

    with pytest.raises(ProviderError, match="upstream trouble") as raised:
        provider.cancel("cgt-20260101-abcd")

    assert (raised.value.retryable, raised.value.status_code) == (retryable, status)


def test_a_delete_that_gets_no_answer_is_a_retryable_provider_error() -> None:
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if request.method == "DELETE":
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json=task(status="queued"))

    provider = BytePlusProvider(
        httpx.Client(transport=httpx.MockTransport(handle)),
        base_url=BASE_URL,
        api_key=SecretStr("ark-key"),
        models=MODELS,
        default_tier="standard",
    )

    with pytest.raises(ProviderError) as raised:
        provider.cancel("cgt-20260101-abcd")

    assert raised.value.retryable is True
    assert calls == ["GET", "DELETE"]


# --- the unit: settings, adapter, prices ----------------------------------------------------------


def test_the_unit_builds_the_adapter_with_its_model_settings_so_volcengine_ark_works_too() -> None:
    seen: list[httpx.Request] = []
    client = httpx.Client(
        transport=httpx.MockTransport(
            lambda request: seen.append(request) or httpx.Response(200, json={"id": "cgt-1"})
        )
    )
    context = AdapterContext(client=client, clock=utc_now, max_webhook_age=timedelta(minutes=5))
    unit = UNITS["byteplus"]
    settings = unit.read_settings(
        {
            "byteplus_standard_model": "doubao-seedance-2-0-260128",
            "byteplus_fast_model": "doubao-seedance-2-0-fast-260128",
            "byteplus_execution_expires_after": "3600",
        }
    )
    adapter = unit.adapter(settings, context, "https://ark.cn-beijing.volces.com/api/v3", SecretStr("k"))

    adapter.create_prediction(JobRequest(provider="byteplus", prompt="p", tier="fast"), WEBHOOK)

    body = json.loads(seen[0].content)
    assert str(seen[0].url) == "https://ark.cn-beijing.volces.com/api/v3/contents/generations/tasks"
    assert (body["model"], body["execution_expires_after"]) == ("doubao-seedance-2-0-fast-260128", 3600)


def test_the_defaults_are_modelark_s_host_models_and_individual_account_limits() -> None:
    settings = UNITS["byteplus"].read_settings({})

    assert isinstance(settings, BytePlusSettings)
    assert settings.base_url_text() == BASE_URL
    assert [settings.model_for(tier) for tier in ("standard", "fast", "mini")] == list(MODELS.values())
    assert (settings.max_concurrent, settings.max_creates_per_minute) == (3, 180)
    assert settings.execution_expires_after == 7200


def test_an_empty_execution_expires_after_sends_none() -> None:
    settings = UNITS["byteplus"].read_settings({"byteplus_execution_expires_after": ""})

    assert isinstance(settings, BytePlusSettings)
    assert settings.execution_expires_after is None
    _, body = create(JobRequest(provider="byteplus", prompt="p"), execution_expires_after=None)
    assert "execution_expires_after" not in body


@pytest.mark.parametrize(
    ("name", "value"),
    [("byteplus_execution_expires_after", "60"), ("byteplus_mini_model", ""), ("byteplus_fast_model", "a b")],
)
def test_a_bad_byteplus_setting_is_refused_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(ProviderSettingsError, match=name.upper()):
        UNITS["byteplus"].read_settings({name: value})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # 1280 × 720 × 5 s × 24 / 1024 = 108,000 tokens at $7.0 per million.
        ({"resolution": "720p", "duration": 5, "aspect_ratio": "16:9"}, 0.756),
        ({"resolution": "480p", "duration": 5, "aspect_ratio": "16:9", "tier": "fast"}, 0.269),
        ({"resolution": "720p", "duration": 10, "aspect_ratio": "9:16", "tier": "mini"}, 0.756),
        ({"resolution": "1080p", "duration": 4, "aspect_ratio": "1:1"}, 0.842),
        # With a reference video: 15 input seconds counted (an upper bound), at $4.3 per million.
        (
            {
                "resolution": "720p",
                "duration": 5,
                "aspect_ratio": "16:9",
                "reference_video_urls": ["https://cdn.example.com/r.mp4"],
            },
            1.8576,
        ),
        ({"resolution": "720p", "duration": None, "aspect_ratio": "16:9"}, None),
        ({"resolution": "720p", "duration": 5, "aspect_ratio": "auto"}, None),
        ({"resolution": "720p", "duration": 5}, None),
    ],
)
def test_the_price_follows_modelark_s_token_formula(fields: dict[str, Any], expected: float | None) -> None:
    assert estimate_cost_usd(JobRequest(provider="byteplus", prompt="p", **fields)) == expected
