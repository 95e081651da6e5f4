"""The Replicate dialect at its HTTP boundary (httpx.MockTransport): creates on the official models'
endpoints, Standard Webhooks signatures with the account's secret (fetched once, cached), tolerant
status words, the provider's own cancel."""

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.support import FixedClock, status_words
from videojobs.errors import CancelRefused, InvalidWebhook, ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, ProviderState, WebhookTarget
from videojobs.providers import UNITS
from videojobs.providers.replicate.adapter import ReplicateProvider
from videojobs.standard_webhooks import StandardWebhook

BASE_URL = "https://api.replicate.com"
WEBHOOK = WebhookTarget(url="https://api.example.com/webhooks/replicate/j1?token=t", signing_secret="unused")
OUTPUT = "https://replicate.delivery/xezq/abc/tmp7_ephsht.mp4"
ACCOUNT_SECRET = "whsec_" + base64.b64encode(b"the account's 32 byte signing key").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"some other account's signing key").decode()
ROTATED_SECRET = "whsec_" + base64.b64encode(b"the account's key after a change").decode()


class FakeReplicate:
    """Answers GET /v1/webhooks/default/secret from ``secrets`` (by bearer key) and every other call
    from ``responses``, in order; records what it saw."""

    def __init__(self, responses: list[httpx.Response] | None = None) -> None:
        self.secrets = {"key-123": ACCOUNT_SECRET}
        self.secret_answer: Callable[[], httpx.Response] | None = None
        self.responses = list(responses or [])
        self.seen: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if request.url.path == "/v1/webhooks/default/secret":
            if self.secret_answer is not None:
                return self.secret_answer()
            token = request.headers["authorization"].removeprefix("Bearer ")
            return httpx.Response(200, json={"key": self.secrets[token]})
        return self.responses.pop(0)

    def secret_fetches(self) -> list[str]:
        return [
            request.headers["authorization"]
            for request in self.seen
            if request.url.path == "/v1/webhooks/default/secret"
        ]


def provider(
    fake: FakeReplicate, clock: FixedClock | None = None, *, pool: tuple[str, ...] = ()
) -> ReplicateProvider:
    return ReplicateProvider(
        httpx.Client(transport=httpx.MockTransport(fake.handle)),
        base_url=BASE_URL + "/",
        api_key=SecretStr("key-123"),
        clock=clock or FixedClock(),
        max_webhook_age=timedelta(minutes=5),
        pool=tuple(SecretStr(key) for key in pool),
    )


def prediction(**fields: Any) -> dict[str, Any]:
    return {
        "id": "ufawqhfynnddngldkgtslldrkq",
        "model": "bytedance/seedance-2.0",
        "version": "hidden",
        "input": {"prompt": "p"},
        "logs": "",
        "output": None,
        "error": None,
        "status": "starting",
        "created_at": "2026-11-24T12:00:00.000000Z",
        "urls": {
            "get": f"{BASE_URL}/v1/predictions/ufawqhfynnddngldkgtslldrkq",
            "cancel": f"{BASE_URL}/v1/predictions/ufawqhfynnddngldkgtslldrkq/cancel",
        },
        **fields,
    }


def created() -> httpx.Response:
    return httpx.Response(201, json=prediction())


def signed(body: bytes, clock: FixedClock, *, secret: str = ACCOUNT_SECRET, age: int = 0) -> dict[str, str]:
    return StandardWebhook(secret).headers(
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", int(clock.now.timestamp()) - age, body
    )


def webhook_body(**fields: Any) -> bytes:
    return json.dumps(prediction(**{"status": "succeeded", "output": OUTPUT, **fields})).encode()


# --- create ---------------------------------------------------------------------------------------


def test_text_to_video_is_created_on_the_official_model_with_input_webhook_and_filter() -> None:
    fake = FakeReplicate([created()])
    request = JobRequest(
        provider="replicate", prompt="astronaut", resolution="1080p", duration=6, aspect_ratio="16:9", seed=42
    )

    receipt = provider(fake).create_prediction(request, WEBHOOK)

    sent = fake.seen[0]
    assert receipt.provider_job_id == "ufawqhfynnddngldkgtslldrkq"
    assert not receipt.links
    assert (sent.method, str(sent.url)) == (
        "POST",
        "https://api.replicate.com/v1/models/bytedance/seedance-2.0/predictions",
    )
    assert sent.headers["authorization"] == "Bearer key-123"
    assert "prefer" not in sent.headers
    assert json.loads(sent.content) == {
        "input": {
            "prompt": "astronaut",
            "duration": 6,
            "resolution": "1080p",
            "aspect_ratio": "16:9",
            "generate_audio": True,
            "seed": 42,
        },
        "webhook": WEBHOOK.url,
        "webhook_events_filter": ["completed"],
    }


def test_auto_becomes_adaptive_and_no_duration_becomes_the_models_intelligent_duration() -> None:
    fake = FakeReplicate([created()])

    provider(fake).create_prediction(
        JobRequest(provider="replicate", prompt="p", aspect_ratio="auto", generate_audio=False), WEBHOOK
    )

    sent_input = json.loads(fake.seen[0].content)["input"]
    assert sent_input == {
        "prompt": "p",
        "duration": -1,
        "resolution": "720p",
        "aspect_ratio": "adaptive",
        "generate_audio": False,
    }


def test_the_fast_tier_picks_the_fast_model_and_frames_go_in_image_and_last_frame_image() -> None:
    fake = FakeReplicate([created()])
    request = JobRequest(
        provider="replicate",
        prompt="lion",
        tier="fast",
        resolution="480p",
        first_frame_url="https://cdn.example.com/a.jpg",
        last_frame_url="https://cdn.example.com/b.jpg",
    )

    provider(fake).create_prediction(request, WEBHOOK)

    assert fake.seen[0].url.path == "/v1/models/bytedance/seedance-2.0-fast/predictions"
    sent_input = json.loads(fake.seen[0].content)["input"]
    assert sent_input["image"] == "https://cdn.example.com/a.jpg"
    assert sent_input["last_frame_image"] == "https://cdn.example.com/b.jpg"
    assert "aspect_ratio" not in sent_input
    assert not {"reference_images", "reference_videos", "reference_audios"} & sent_input.keys()


def test_references_are_sent_as_the_three_lists() -> None:
    fake = FakeReplicate([created()])
    request = JobRequest(
        provider="replicate",
        prompt="[Image1] dances like [Video1] to [Audio1]",
        reference_image_urls=["https://cdn.example.com/i1.png", "https://cdn.example.com/i2.png"],
        reference_video_urls=["https://cdn.example.com/v.mp4"],
        reference_audio_urls=["https://cdn.example.com/a.mp3"],
    )

    provider(fake).create_prediction(request, WEBHOOK)

    sent_input = json.loads(fake.seen[0].content)["input"]
    assert sent_input["reference_images"] == [
        "https://cdn.example.com/i1.png",
        "https://cdn.example.com/i2.png",
    ]
    assert sent_input["reference_videos"] == ["https://cdn.example.com/v.mp4"]
    assert sent_input["reference_audios"] == ["https://cdn.example.com/a.mp3"]
    assert "image" not in sent_input


@pytest.mark.parametrize(
    ("status", "body", "retryable", "words"),
    [
        (
            422,
            {"title": "Input validation failed", "detail": "duration: must be <= 15", "status": 422},
            False,
            "duration",
        ),
        (
            401,
            {
                "title": "Unauthenticated",
                "detail": "You did not pass a valid authentication token",
                "status": 401,
            },
            False,
            "valid authentication",
        ),
        (429, {"detail": "Request was throttled. Your rate limit resets in ~30s."}, True, "throttled"),
        (503, {"title": "Service unavailable", "detail": "try again", "status": 503}, True, "try again"),
    ],
)
def test_problem_details_are_provider_errors_that_say_whether_to_retry(
    status: int, body: dict[str, Any], retryable: bool, words: str
) -> None:
    headers = {"Retry-After": "30"} if status == 429 else {}
    fake = FakeReplicate([httpx.Response(status, json=body, headers=headers)])

    with pytest.raises(ProviderError) as raised:
        provider(fake).create_prediction(JobRequest(provider="replicate", prompt="p"), WEBHOOK)

    assert (raised.value.retryable, raised.value.status_code, raised.value.ambiguous) == (
        retryable,
        status,
        False,
    )
    assert words in str(raised.value)
    assert raised.value.retry_after_seconds == (30.0 if status == 429 else None)


@pytest.mark.parametrize(
    ("failure", "ambiguous"),
    [
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.RemoteProtocolError("closed"), True),
        (httpx.ConnectError("refused"), False),
    ],
)
def test_a_create_whose_answer_was_lost_is_ambiguous_and_never_resent(
    failure: httpx.HTTPError, ambiguous: bool
) -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise failure

    replicate = ReplicateProvider(
        httpx.Client(transport=httpx.MockTransport(handle)),
        base_url=BASE_URL,
        api_key=SecretStr("key-123"),
        clock=FixedClock(),
        max_webhook_age=timedelta(minutes=5),
    )

    with pytest.raises(ProviderError) as raised:
        replicate.create_prediction(JobRequest(provider="replicate", prompt="p"), WEBHOOK)

    assert (raised.value.ambiguous, raised.value.retryable) == (ambiguous, True)
    assert len(calls) == 1


def test_an_answer_without_an_id_is_an_unexpected_shape() -> None:
    fake = FakeReplicate([httpx.Response(201, json={"status": "starting"})])

    with pytest.raises(ProviderError, match="unexpected shape"):
        provider(fake).create_prediction(JobRequest(provider="replicate", prompt="p"), WEBHOOK)


# --- webhooks -------------------------------------------------------------------------------------


def test_a_signed_terminal_webhook_parses_into_our_update() -> None:
    clock = FixedClock()
    fake = FakeReplicate()
    body = webhook_body()

    update = provider(fake, clock).parse_webhook(signed(body, clock), body, signing_secret="unused")

    assert update.provider_job_id == "ufawqhfynnddngldkgtslldrkq"
    assert (update.state, update.output_url, update.error_message) == (ProviderState.SUCCEEDED, OUTPUT, None)


def test_the_account_secret_is_fetched_once_and_cached_across_webhooks() -> None:
    clock = FixedClock()
    fake = FakeReplicate()
    replicate = provider(fake, clock)

    for _ in range(3):
        body = webhook_body()
        replicate.parse_webhook(signed(body, clock), body, signing_secret="unused")
        clock.advance(600)

    assert fake.secret_fetches() == ["Bearer key-123"]
    assert str(fake.seen[0].url) == "https://api.replicate.com/v1/webhooks/default/secret"
    assert fake.seen[0].method == "GET"


@pytest.mark.parametrize(
    ("output", "url"),
    [([OUTPUT], OUTPUT), ({"url": OUTPUT}, OUTPUT), (None, None), ("", None)],
)
def test_an_output_given_as_a_list_or_file_object_is_read_too(output: object, url: str | None) -> None:
    clock = FixedClock()
    body = webhook_body(output=output)

    update = provider(FakeReplicate(), clock).parse_webhook(
        signed(body, clock), body, signing_secret="unused"
    )

    assert update.output_url == url


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        ("failed", "E005: the input image was flagged", "E005: the input image was flagged"),
        ("canceled", None, "replicate prediction canceled"),
        ("aborted", None, "replicate prediction aborted"),
    ],
)
def test_a_failed_canceled_or_aborted_webhook_fails_the_job_with_its_reason(
    status: str, error: str | None, message: str
) -> None:
    clock = FixedClock()
    body = webhook_body(status=status, output=None, error=error)

    update = provider(FakeReplicate(), clock).parse_webhook(
        signed(body, clock), body, signing_secret="unused"
    )

    assert (update.state, update.error_message, update.output_url) == (ProviderState.FAILED, message, None)


@pytest.mark.parametrize("tamper", ["unsigned", "no v1 entry", "stale", "from the future", "bad timestamp"])
def test_unsigned_or_stale_webhooks_are_refused_before_any_secret_is_fetched(tamper: str) -> None:
    clock = FixedClock()
    fake = FakeReplicate()
    body = webhook_body()
    good = signed(body, clock)
    headers = {
        "unsigned": {},
        "no v1 entry": {**good, "webhook-signature": "v1a,abc v2,def"},
        "stale": signed(body, clock, age=301),
        "from the future": signed(body, clock, age=-301),
        "bad timestamp": {**good, "webhook-timestamp": "12:00"},
    }[tamper]

    with pytest.raises(WebhookUnauthorized):
        provider(fake, clock).parse_webhook(headers, body, signing_secret="unused")

    assert fake.seen == []


def test_a_webhook_at_the_edge_of_the_window_is_accepted() -> None:
    clock = FixedClock()
    body = webhook_body()

    provider(FakeReplicate(), clock).parse_webhook(
        signed(body, clock, age=300), body, signing_secret="unused"
    )


@pytest.mark.parametrize("tamper", ["forged signature", "body changed", "unknown key"])
def test_forged_or_foreign_signatures_are_refused(tamper: str) -> None:
    clock = FixedClock()
    fake = FakeReplicate()
    body = webhook_body()
    good = signed(body, clock)
    headers, sent = {
        "forged signature": (
            {**good, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()},
            body,
        ),
        "body changed": (good, webhook_body(output="https://evil.example.com/o.mp4")),
        "unknown key": (signed(body, clock, secret=OTHER_SECRET), body),
    }[tamper]

    with pytest.raises(WebhookUnauthorized):
        provider(fake, clock).parse_webhook(headers, sent, signing_secret="unused")

    # The secret was just fetched: a miss does not fetch it again.
    assert fake.secret_fetches() == ["Bearer key-123"]


def test_one_of_several_signatures_matching_is_enough() -> None:
    clock = FixedClock()
    body = webhook_body()
    ours = signed(body, clock)
    theirs = StandardWebhook(OTHER_SECRET).sign(ours["webhook-id"], int(ours["webhook-timestamp"]), body)

    update = provider(FakeReplicate(), clock).parse_webhook(
        {**ours, "webhook-signature": f"{theirs} {ours['webhook-signature']}"}, body, signing_secret="unused"
    )

    assert update.state is ProviderState.SUCCEEDED


def test_a_changed_account_secret_is_fetched_again_at_most_once_per_interval() -> None:
    clock = FixedClock()
    fake = FakeReplicate()
    replicate = provider(fake, clock)
    body = webhook_body()
    replicate.parse_webhook(signed(body, clock), body, signing_secret="unused")

    fake.secrets["key-123"] = ROTATED_SECRET
    clock.advance(60)
    with pytest.raises(WebhookUnauthorized):
        replicate.parse_webhook(signed(body, clock, secret=ROTATED_SECRET), body, signing_secret="unused")
    assert len(fake.secret_fetches()) == 1

    clock.advance(300)
    update = replicate.parse_webhook(
        signed(body, clock, secret=ROTATED_SECRET), body, signing_secret="unused"
    )
    assert update.state is ProviderState.SUCCEEDED
    assert len(fake.secret_fetches()) == 2

    for _ in range(3):
        with pytest.raises(WebhookUnauthorized):
            replicate.parse_webhook(signed(body, clock, secret=OTHER_SECRET), body, signing_secret="unused")
    assert len(fake.secret_fetches()) == 2


def test_a_forged_webhook_after_the_interval_refetches_once_and_is_still_refused() -> None:
    clock = FixedClock()
    fake = FakeReplicate()
    replicate = provider(fake, clock)
    body = webhook_body()
    replicate.parse_webhook(signed(body, clock), body, signing_secret="unused")
    clock.advance(301)

    for _ in range(5):
        with pytest.raises(WebhookUnauthorized):
            replicate.parse_webhook(signed(body, clock, secret=OTHER_SECRET), body, signing_secret="unused")

    assert len(fake.secret_fetches()) == 2


def test_webhooks_of_a_pool_keys_other_account_verify_with_that_accounts_secret() -> None:
    clock = FixedClock()
    fake = FakeReplicate()
    fake.secrets["key-456"] = OTHER_SECRET
    replicate = provider(fake, clock, pool=("key-123", "key-456"))
    body = webhook_body()

    replicate.parse_webhook(signed(body, clock), body, signing_secret="unused")
    assert fake.secret_fetches() == ["Bearer key-123"]

    update = replicate.parse_webhook(signed(body, clock, secret=OTHER_SECRET), body, signing_secret="unused")
    assert update.state is ProviderState.SUCCEEDED
    assert fake.secret_fetches() == ["Bearer key-123", "Bearer key-456"]


@pytest.mark.parametrize(
    "answer",
    [
        lambda: httpx.Response(503, json={"detail": "unavailable"}),
        lambda: httpx.Response(200, json={"nothing": "here"}),
        lambda: httpx.Response(200, json={"key": "whsec_not base64!"}),
    ],
)
def test_a_secret_that_cannot_be_had_is_a_provider_error_so_the_webhook_comes_again(
    answer: Callable[[], httpx.Response],
) -> None:
    clock = FixedClock()
    fake = FakeReplicate()
    fake.secret_answer = answer
    body = webhook_body()

    with pytest.raises(ProviderError):
        provider(fake, clock).parse_webhook(signed(body, clock), body, signing_secret="unused")


def test_an_authentic_webhook_of_the_wrong_shape_names_the_field() -> None:
    clock = FixedClock()
    body = json.dumps({"status": "succeeded", "output": OUTPUT}).encode()

    with pytest.raises(InvalidWebhook, match="id"):
        provider(FakeReplicate(), clock).parse_webhook(signed(body, clock), body, signing_secret="unused")


# --- status words, status reads ---------------------------------------------------------------------

RUNNING = ["starting", "processing", "Processing", "queued", "in_progress"]
DONE = ["succeeded", "Succeeded", "completed", "success"]
FAILED = ["failed", "canceled", "cancelled", "aborted", "ABORTED", "error"]
WORDS = status_words(running=RUNNING, done=DONE, failed=FAILED)


@pytest.mark.parametrize(("word", "state"), WORDS)
def test_status_words_are_read_with_tolerance_in_webhooks_and_status_reads(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    clock = FixedClock()
    body = webhook_body(status=word, error="boom" if state is ProviderState.FAILED else None)
    fake = FakeReplicate([httpx.Response(200, json=json.loads(body))])
    replicate = provider(fake, clock)

    from_webhook = replicate.parse_webhook(signed(body, clock), body, signing_secret="unused")
    from_status = replicate.get_prediction("ufawqhfynnddngldkgtslldrkq")

    assert from_webhook == from_status
    assert from_status.state is state
    assert from_status.output_url == (OUTPUT if state is ProviderState.SUCCEEDED else None)
    assert from_status.error_message == ("boom" if state is ProviderState.FAILED else None)
    assert logged_warnings == []


@pytest.mark.parametrize("word", ["done", "exploded", None])
def test_an_unknown_status_word_is_logged_and_means_still_running(
    word: str | None, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    fake = FakeReplicate([httpx.Response(200, json=prediction(status=word))])

    update = provider(fake).get_prediction("ufawqhfynnddngldkgtslldrkq")

    assert update.state is ProviderState.PROCESSING
    assert [(message, fields["provider"], fields["status_word"]) for message, fields in logged_warnings] == [
        ("unknown provider status word; read as still running", "replicate", word)
    ]


def test_a_status_read_gets_the_prediction_by_its_documented_path() -> None:
    fake = FakeReplicate([httpx.Response(200, json=prediction(status="succeeded", output=OUTPUT))])

    update = provider(fake).get_prediction("ufawqhfynnddngldkgtslldrkq", links=None)

    assert (fake.seen[0].method, str(fake.seen[0].url)) == (
        "GET",
        "https://api.replicate.com/v1/predictions/ufawqhfynnddngldkgtslldrkq",
    )
    assert fake.seen[0].headers["authorization"] == "Bearer key-123"
    assert (update.state, update.output_url) == (ProviderState.SUCCEEDED, OUTPUT)


def test_a_prediction_id_is_escaped_into_the_path() -> None:
    fake = FakeReplicate([httpx.Response(200, json=prediction(status="processing"))])

    provider(fake).get_prediction("a/../b")

    assert fake.seen[0].url.raw_path == b"/v1/predictions/a%2F..%2Fb"


# --- cancel -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answered", ["canceled", "processing", "starting"])
def test_cancel_posts_the_providers_own_cancel_and_accepts_a_taken_cancel(answered: str) -> None:
    fake = FakeReplicate([httpx.Response(200, json=prediction(status=answered))])

    provider(fake).cancel("ufawqhfynnddngldkgtslldrkq")

    assert (fake.seen[0].method, str(fake.seen[0].url)) == (
        "POST",
        "https://api.replicate.com/v1/predictions/ufawqhfynnddngldkgtslldrkq/cancel",
    )
    assert fake.seen[0].headers["authorization"] == "Bearer key-123"


@pytest.mark.parametrize("answered", ["succeeded", "failed", "aborted"])
def test_cancelling_a_finished_prediction_is_refused(answered: str) -> None:
    fake = FakeReplicate([httpx.Response(200, json=prediction(status=answered))])

    with pytest.raises(CancelRefused) as refused:
        provider(fake).cancel("ufawqhfynnddngldkgtslldrkq")

    assert not refused.value.unsupported
    assert answered in str(refused.value)


def test_cancelling_an_unknown_prediction_is_a_provider_error() -> None:
    fake = FakeReplicate(
        [httpx.Response(404, json={"title": "Not found", "detail": "Not found.", "status": 404})]
    )

    with pytest.raises(ProviderError) as raised:
        provider(fake).cancel("nope")

    assert (raised.value.status_code, raised.value.retryable) == (404, False)


# --- the unit -------------------------------------------------------------------------------------------


def test_the_unit_builds_an_adapter_with_replicates_defaults() -> None:
    unit = UNITS["replicate"]
    settings = unit.read_settings({"replicate_api_keys": "k1,k2"})

    assert settings.base_url_text() == "https://api.replicate.com"
    assert settings.output_hosts == ("replicate.delivery", "*.replicate.delivery")
    assert (settings.max_concurrent, settings.max_creates_per_minute) == (5, 600)
    assert unit.estimate_cost_usd is None
    assert unit.capabilities.default_tier == "standard"
    assert unit.capabilities.tiers["fast"] == frozenset({"480p", "720p"})
