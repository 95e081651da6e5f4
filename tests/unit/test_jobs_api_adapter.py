"""The jobs API dialect at its HTTP boundary (httpx.MockTransport): one model for every job, inputs
nested under "input", unsigned callbacks, streamed multipart uploads."""

import email.parser
import email.policy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.support import status_words
from videojobs.errors import InvalidWebhook, ProviderError
from videojobs.models import JobRequest, MediaKind, ProviderState, WebhookTarget
from videojobs.ports import MediaFile, MediaUploader
from videojobs.providers.jobs_api.adapter import JobsApiProvider

BASE_URL = "https://backend.example.com:8000"
WEBHOOK = WebhookTarget(url="https://api.example.com/webhooks/jobs_api/j1?token=t", signing_secret="s3cret")
OUTPUT = "https://files.example.com/job_1/output.mp4"


def capture(responses: list[httpx.Response]) -> tuple[list[httpx.Request], JobsApiProvider]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    return seen, JobsApiProvider(client, base_url=f"{BASE_URL}/", api_key=SecretStr("jobs-key"))


def job(**fields: object) -> dict[str, object]:
    return {
        "id": "job_1a",
        "object": "job",
        "status": "processing",
        "model": "seedance-2.0/text-to-video",
        "created": 1795000000,
        "request_id": "req_77",
        **fields,
    }


def create(request: JobRequest) -> tuple[httpx.Request, dict[str, object]]:
    seen, provider = capture([httpx.Response(200, json=job())])
    assert provider.create_prediction(request, WEBHOOK).provider_job_id == "job_1a"
    body: dict[str, object] = json.loads(seen[0].content)
    return seen[0], body


# --- create -----------------------------------------------------------------------------------------


def test_text_to_video_nests_the_inputs_and_sends_our_callback_url() -> None:
    request = JobRequest(
        provider="jobs_api",
        prompt="rainy neon street",
        resolution="1080p",
        duration=5,
        aspect_ratio="16:9",
        seed=12345,
    )

    sent, body = create(request)

    assert (sent.method, str(sent.url)) == ("POST", f"{BASE_URL}/v1/jobs")
    assert sent.headers["authorization"] == "Bearer jobs-key"
    assert body == {
        "model": "seedance-2.0/text-to-video",
        "input": {
            "prompt": "rainy neon street",
            "resolution": "1080p",
            "duration": 5,
            "aspect_ratio": "16:9",
            "seed": 12345,
            "callback_url": WEBHOOK.url,
        },
    }
    assert b"s3cret" not in sent.content


def test_unset_options_are_omitted_and_there_is_no_audio_switch() -> None:
    _, body = create(JobRequest(provider="jobs_api", prompt="p"))

    assert body == {
        "model": "seedance-2.0/text-to-video",
        "input": {"prompt": "p", "resolution": "720p", "callback_url": WEBHOOK.url},
    }


def test_frames_go_to_the_same_model() -> None:
    request = JobRequest(
        provider="jobs_api",
        prompt="p",
        first_frame_url="https://cdn.example.com/first.png",
        last_frame_url="https://cdn.example.com/last.png",
    )

    _, body = create(request)

    assert body["model"] == "seedance-2.0/text-to-video"
    assert body["input"] == {
        "prompt": "p",
        "first_frame_url": "https://cdn.example.com/first.png",
        "last_frame_url": "https://cdn.example.com/last.png",
        "resolution": "720p",
        "callback_url": WEBHOOK.url,
    }


def test_references_are_url_lists() -> None:
    request = JobRequest(
        provider="jobs_api",
        prompt="p",
        reference_image_urls=["https://cdn.example.com/ref.png"],
        reference_video_urls=["https://cdn.example.com/ref.mp4", "https://cdn.example.com/ref2.mp4"],
    )

    _, body = create(request)

    inputs = body["input"]
    assert isinstance(inputs, dict)
    assert inputs["reference_image_urls"] == ["https://cdn.example.com/ref.png"]
    assert inputs["reference_video_urls"] == [
        "https://cdn.example.com/ref.mp4",
        "https://cdn.example.com/ref2.mp4",
    ]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (408, True),
        (429, True),
        (500, True),
        (503, True),
    ],
)
def test_errors_carry_the_message_and_say_whether_to_retry(status: int, retryable: bool) -> None:
    _, provider = capture(
        [httpx.Response(status, json={"error": {"code": "bad_input", "message": "prompt missing"}})]
    )

    with pytest.raises(ProviderError) as raised:
        provider.create_prediction(JobRequest(provider="jobs_api", prompt="p"), WEBHOOK)

    assert (raised.value.retryable, raised.value.status_code) == (retryable, status)
    assert "prompt missing (bad_input)" in str(raised.value)


def test_a_created_job_in_a_status_we_do_not_know_is_still_created() -> None:
    _, provider = capture([httpx.Response(200, json=job(status="pending"))])

    receipt = provider.create_prediction(JobRequest(provider="jobs_api", prompt="p"), WEBHOOK)

    assert receipt.provider_job_id == "job_1a"


def test_a_timeout_after_sending_is_retryable_but_ambiguous() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    provider = JobsApiProvider(
        httpx.Client(transport=httpx.MockTransport(timeout)), base_url=BASE_URL, api_key=SecretStr("jobs-key")
    )

    with pytest.raises(ProviderError, match="gave no answer") as raised:
        provider.create_prediction(JobRequest(provider="jobs_api", prompt="p"), WEBHOOK)

    assert raised.value.retryable is True
    assert raised.value.ambiguous is True


def test_a_non_json_success_is_retryable_and_a_wrong_shape_is_not() -> None:
    _, provider = capture([httpx.Response(200, text="<html>"), httpx.Response(200, json={"object": "job"})])
    request = JobRequest(provider="jobs_api", prompt="p")

    with pytest.raises(ProviderError, match="non-JSON") as non_json:
        provider.create_prediction(request, WEBHOOK)
    with pytest.raises(ProviderError, match="unexpected shape") as wrong_shape:
        provider.create_prediction(request, WEBHOOK)

    assert (non_json.value.retryable, wrong_shape.value.retryable) == (True, False)


# --- status and callbacks ---------------------------------------------------------------------------


def output(*videos: object) -> dict[str, object]:
    return {"task_id": "t_1", "status": "succeeded", "videos": list(videos)}


STATUS_CASES = [
    ({"status": "queued"}, ProviderState.PROCESSING, None, None),
    ({"status": "processing", "output": None}, ProviderState.PROCESSING, None, None),
    (
        {
            "status": "succeeded",
            "output": output({"url": OUTPUT, "content_type": "video/mp4"}),
            "error": None,
        },
        ProviderState.SUCCEEDED,
        OUTPUT,
        None,
    ),
    ({"status": "completed", "output": output({"url": OUTPUT})}, ProviderState.SUCCEEDED, OUTPUT, None),
    ({"status": "success", "output": output(OUTPUT)}, ProviderState.SUCCEEDED, OUTPUT, None),
    ({"status": "succeeded", "output": output()}, ProviderState.SUCCEEDED, None, None),
    (
        {"status": "failed", "error": {"code": "moderation", "message": "blocked by policy"}},
        ProviderState.FAILED,
        None,
        "blocked by policy",
    ),
    ({"status": "failed", "error": {"code": "internal"}}, ProviderState.FAILED, None, "internal"),
    ({"status": "failed", "error": None}, ProviderState.FAILED, None, None),
]


@pytest.mark.parametrize(("fields", "state", "output_url", "error"), STATUS_CASES)
def test_status_polling_maps_every_status_word(
    fields: dict[str, object], state: ProviderState, output_url: str | None, error: str | None
) -> None:
    seen, provider = capture([httpx.Response(200, json=job(**fields))])

    update = provider.get_prediction("job_1a")

    assert (seen[0].method, str(seen[0].url)) == ("GET", f"{BASE_URL}/v1/jobs/job_1a")
    assert seen[0].headers["authorization"] == "Bearer jobs-key"
    assert (update.provider_job_id, update.state, update.output_url, update.error_message) == (
        "job_1a",
        state,
        output_url,
        error,
    )


@pytest.mark.parametrize(("fields", "state", "output_url", "error"), STATUS_CASES)
def test_a_callback_body_parses_like_a_status_answer(
    fields: dict[str, object], state: ProviderState, output_url: str | None, error: str | None
) -> None:
    _, provider = capture([])

    update = provider.parse_webhook({}, json.dumps(job(**fields)).encode(), signing_secret="s3cret")

    assert (update.provider_job_id, update.state, update.output_url, update.error_message) == (
        "job_1a",
        state,
        output_url,
        error,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"job_1a"',
        json.dumps(job(id="")).encode(),
        json.dumps({"status": "succeeded", "output": {"videos": [OUTPUT]}}).encode(),
    ],
)
def test_a_callback_that_names_no_job_is_invalid(body: bytes) -> None:
    _, provider = capture([])

    with pytest.raises(InvalidWebhook):
        provider.parse_webhook({}, body, signing_secret="s3cret")


@pytest.mark.parametrize(
    ("body", "state", "output_url"),
    [
        (
            {"job_id": "job_1a", "status": "succeeded", "output": output(OUTPUT)},
            ProviderState.SUCCEEDED,
            OUTPUT,
        ),
        ({"task_id": "job_1a", "status": "Completed"}, ProviderState.SUCCEEDED, None),
        ({"data": {"id": "job_1a", "status": "in_progress"}}, ProviderState.PROCESSING, None),
        (
            {"job": {"id": "job_1a", "status": "canceled"}, "event": "job.finished"},
            ProviderState.FAILED,
            None,
        ),
        ({"output": {"task_id": "job_1a", "status": "succeeded"}}, ProviderState.PROCESSING, None),
        (
            {"id": " job_1a ", "status": "succeeded", "output": "not an object"},
            ProviderState.PROCESSING,
            None,
        ),
        ({"id": "job_1a", "status": 200, "error": "just words"}, ProviderState.PROCESSING, None),
    ],
    ids=["job_id", "task_id", "in data", "in job", "output.task_id", "odd output", "odd status"],
)
def test_a_callback_of_an_odd_shape_still_names_its_job_for_the_status_check(
    body: dict[str, object], state: ProviderState, output_url: str | None
) -> None:
    _, provider = capture([])

    update = provider.parse_webhook({}, json.dumps(body).encode(), signing_secret="s3cret")

    assert (update.provider_job_id, update.state, update.output_url) == ("job_1a", state, output_url)


def test_a_numeric_job_id_in_a_callback_is_read_as_text() -> None:
    _, provider = capture([])

    update = provider.parse_webhook({}, b'{"id": 4711, "status": "queued"}', signing_secret="s3cret")

    assert (update.provider_job_id, update.state) == ("4711", ProviderState.PROCESSING)


RUNNING = ["queued", "processing", "in_progress", "Running", "PENDING", "submitted", "starting"]
DONE = ["succeeded", "Completed", "SUCCESS"]
FAILED = ["failed", "Error", "cancelled", "canceled", "EXPIRED"]
WORDS = status_words(running=RUNNING, done=DONE, failed=FAILED)


@pytest.mark.parametrize(("word", "state"), WORDS)
def test_status_words_are_read_with_tolerance_when_polling_and_in_callbacks(
    word: str, state: ProviderState, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    answer = job(status=word, output=output(OUTPUT), error={"code": "moderation", "message": "blocked"})
    _, provider = capture([httpx.Response(200, json=answer)])

    from_status = provider.get_prediction("job_1a")
    from_callback = provider.parse_webhook({}, json.dumps(answer).encode(), signing_secret="")

    assert from_status == from_callback
    assert from_status.state is state
    assert from_status.output_url == (OUTPUT if state is ProviderState.SUCCEEDED else None)
    assert from_status.error_message == ("blocked" if state is ProviderState.FAILED else None)
    assert logged_warnings == []


@pytest.mark.parametrize("word", ["exploded", None])
def test_an_unknown_status_word_is_logged_and_means_still_running(
    word: str | None, logged_warnings: list[tuple[str, dict[str, Any]]]
) -> None:
    _, provider = capture([httpx.Response(200, json=job(status=word, output=output(OUTPUT)))])

    update = provider.get_prediction("job_1a")

    assert (update.state, update.output_url) == (ProviderState.PROCESSING, None)
    ((message, fields),) = logged_warnings
    assert message == "unknown provider status word; read as still running"
    assert fields == {
        "provider": "jobs_api",
        "source": "status",
        "provider_job_id": "job_1a",
        "status_word": word,
    }


def test_a_status_answer_that_is_no_object_is_still_an_unexpected_shape() -> None:
    _, provider = capture([httpx.Response(200, json=["job_1a", "succeeded"])])

    with pytest.raises(ProviderError, match="unexpected shape") as raised:
        provider.get_prediction("job_1a")

    assert raised.value.retryable is False


# --- upload -----------------------------------------------------------------------------------------

VIDEO = bytes(index % 256 for index in range(10_000)) + b"\r\n--not-a-boundary\r\n\r\n"


def media(
    data: bytes = VIDEO,
    *,
    filename: str = "demo.mp4",
    content_type: str = "video/mp4",
    kind: MediaKind = "video",
) -> tuple[MediaFile, list[int]]:
    """The file, and the sizes of the chunks as they are pulled (to show the body is streamed)."""
    pulled: list[int] = []

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 4096):
            chunk = data[start : start + 4096]
            pulled.append(len(chunk))
            yield chunk

    return MediaFile(
        filename=filename, content_type=content_type, kind=kind, size_bytes=len(data), chunks=chunks()
    ), pulled


def uploaded(**fields: object) -> httpx.Response:
    answer = {
        "id": "file_9",
        "object": "file",
        "kind": "video",
        "purpose": "reference",
        "filename": "demo.mp4",
        "bytes": len(VIDEO),
        "url": "https://files.example.com/file_9/demo.mp4",
        **fields,
    }
    return httpx.Response(200, json=answer)


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


def test_upload_sends_kind_purpose_and_file_streamed_with_a_content_length() -> None:
    seen, provider = capture([uploaded()])
    file, pulled = media()

    url = provider.upload_media(file)

    sent = seen[0]
    assert url == "https://files.example.com/file_9/demo.mp4"
    assert isinstance(provider, MediaUploader)
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE_URL}/v1/files/upload")
    assert sent.headers["authorization"] == "Bearer jobs-key"
    assert sent.headers["content-length"] == str(len(sent.content))
    assert "transfer-encoding" not in sent.headers
    assert sum(pulled) == len(VIDEO)
    assert len(pulled) == 3
    assert form_parts(sent) == [
        ("kind", None, "text/plain", b"video"),
        ("purpose", None, "text/plain", b"reference"),
        ("file", "demo.mp4", "video/mp4", VIDEO),
    ]


def test_the_multipart_framing_is_exact() -> None:
    seen, provider = capture([uploaded()])
    file, _ = media(b"IMG", filename="ref.png", content_type="image/png", kind="image")

    provider.upload_media(file)

    sent = seen[0]
    boundary = sent.headers["content-type"].removeprefix("multipart/form-data; boundary=")
    assert 1 <= len(boundary) <= 70
    assert (
        sent.content
        == (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="kind"\r\n\r\n'
            "image\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="purpose"\r\n\r\n'
            "reference\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="ref.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
            "IMG\r\n"
            f"--{boundary}--\r\n"
        ).encode()
    )


def test_filenames_and_content_types_cannot_break_out_of_their_header() -> None:
    seen, provider = capture([uploaded()])
    file, _ = media(b"data", filename='a"b\r\nX-Evil: 1.mp4', content_type="video/mp4\r\nX-Evil: 1")

    provider.upload_media(file)

    parts = form_parts(seen[0])
    assert parts[-1] == ("file", "a%22b%0D%0AX-Evil: 1.mp4", "application/octet-stream", b"data")
    assert b"\r\nX-Evil" not in seen[0].content


@pytest.mark.parametrize(
    ("status", "retryable"), [(411, False), (413, False), (400, False), (429, True), (503, True)]
)
def test_upload_errors_are_mapped_like_api_errors(status: int, retryable: bool) -> None:
    _, provider = capture([httpx.Response(status, json={"error": {"code": "upload", "message": "refused"}})])

    with pytest.raises(ProviderError, match="refused") as raised:
        provider.upload_media(media()[0])

    assert (raised.value.retryable, raised.value.status_code) == (retryable, status)


def test_upload_transport_errors_are_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    provider = JobsApiProvider(
        httpx.Client(transport=httpx.MockTransport(refuse)), base_url=BASE_URL, api_key=SecretStr("jobs-key")
    )

    with pytest.raises(ProviderError, match="unreachable") as raised:
        provider.upload_media(media()[0])

    assert raised.value.retryable is True
    assert raised.value.ambiguous is False


def test_an_upload_answer_without_a_url_is_an_unexpected_shape() -> None:
    _, provider = capture([httpx.Response(200, json={"id": "file_9", "object": "file"})])

    with pytest.raises(ProviderError, match="unexpected shape"):
        provider.upload_media(media()[0])


@pytest.mark.parametrize("declared", [len(VIDEO) - 1, len(VIDEO) + 1])
def test_a_source_that_does_not_match_its_declared_size_stops_the_upload(declared: int) -> None:
    _, provider = capture([uploaded()])
    file = MediaFile(
        filename="demo.mp4", content_type="video/mp4", kind="video", size_bytes=declared, chunks=[VIDEO]
    )

    with pytest.raises(ProviderError, match="declared"):
        provider.upload_media(file)
