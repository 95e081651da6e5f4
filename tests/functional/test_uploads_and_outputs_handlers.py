"""POST /uploads (the uploads function), GET /jobs/{job_id}/video, /last-frame and GET /openapi.json (the
status function), in-process with fake ports, fed events/create_upload.json, get_job_video.json,
get_job_last_frame.json and get_openapi.json as `sam local invoke -e` would be."""

import base64
import gzip
import json
from datetime import timedelta
from typing import Any

import pytest

from functions.status import app as status
from functions.uploads import app as uploads
from tests.support import FakeLambdaContext, FakeWorld, load_event
from videojobs.api import published_openapi_document
from videojobs.dependencies import UploadPolicy
from videojobs.models import Job, JobRequest, JobStatus, StoredFrame, StoredVideo

Context = FakeLambdaContext


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def upload_event(body: Any = None, *, raw: str | None = None, **headers: str) -> dict[str, Any]:
    event = load_event("create_upload")
    if body is not None:
        event["body"] = json.dumps(body)
    if raw is not None:
        event["body"] = raw
    event["headers"].update(headers)
    return event


def job_event(name: str, job_id: str) -> dict[str, Any]:
    """events/<name>.json about ``job_id``."""
    event = load_event(name)
    old = event["pathParameters"]["job_id"]
    event["pathParameters"]["job_id"] = job_id
    event["rawPath"] = event["requestContext"]["http"]["path"] = event["rawPath"].replace(old, job_id)
    return event


def stored(world: FakeWorld, status_: JobStatus, **changes: Any) -> Job:
    job = Job.new(JobRequest(provider="eachlabs", prompt="p"), now=world.clock(), retention=timedelta(days=1))
    world.jobs.create_if_absent(job.model_copy(update={"status": status_, **changes}))
    return world.jobs.jobs[job.job_id]


VIDEO = StoredVideo(bucket="videos", key="videos/j.mp4", size_bytes=10, sha256="ab", content_type="video/mp4")
FRAME = StoredFrame(
    bucket="videos", key="frames/j-last.png", size_bytes=5, sha256="cd", content_type="image/png"
)


# -- POST /uploads (events/create_upload.json) ---------------------------------------------------------
def test_post_uploads_answers_201_with_the_presigned_put_and_the_headers_it_must_send() -> None:
    world = FakeWorld()

    response = uploads.lambda_handler(load_event("create_upload"), Context(), deps=world.deps())

    assert response["statusCode"] == 201
    grant = body_of(response)
    assert set(grant) == {"upload_url", "s3_url", "expires_at", "headers"}
    (signed,) = world.inputs.presigned_puts
    assert (signed.content_type, signed.size_bytes) == ("image/png", 48213)
    assert grant["s3_url"] == f"s3://inputs/{signed.location.key}"
    assert grant["s3_url"].startswith("s3://inputs/uploads/")
    assert grant["s3_url"].endswith(".png")
    assert grant["headers"] == {"Content-Type": "image/png", "Content-Length": "48213"}
    assert grant["expires_at"] == "2026-11-24T12:15:00Z"
    assert world.jobs.writes == 0


@pytest.mark.parametrize(
    ("body", "loc", "words"),
    [
        ({"content_type": "image/gif", "size_bytes": 10}, ["body", "content_type"], "'image/png'"),
        (
            {"content_type": "image/png", "size_bytes": 0},
            ["body", "size_bytes"],
            "greater than or equal to 1",
        ),
        ({"content_type": "image/png", "size_bytes": "10"}, ["body", "size_bytes"], "valid integer"),
        ({"content_type": "image/png"}, ["body", "size_bytes"], "required"),
        ({"content_type": "image/png", "size_bytes": 10, "name": "x"}, ["body", "name"], "not permitted"),
        (
            {"content_type": "image/png", "size_bytes": 50 * 1024 * 1024 + 1},
            ["body", "size_bytes"],
            "at most",
        ),
    ],
)
def test_a_bad_upload_body_is_a_422_naming_the_field_and_the_reason(
    body: dict[str, Any], loc: list[str], words: str
) -> None:
    world = FakeWorld(upload_policy=UploadPolicy(bucket="inputs", max_bytes=50 * 1024 * 1024))

    response = uploads.lambda_handler(upload_event(body), Context(), deps=world.deps())

    assert response["statusCode"] == 422
    (item,) = body_of(response)["detail"]
    assert item["loc"] == loc
    assert words in item["msg"]
    assert world.inputs.presigned_puts == []


@pytest.mark.parametrize(
    ("event", "status_code", "code"),
    [
        (upload_event(raw="{not json"), 400, "malformed_json"),
        (upload_event(**{"content-type": "text/plain"}), 415, "unsupported_media_type"),
        (upload_event(raw=json.dumps({"pad": "x" * 300_000})), 413, "too_large"),
    ],
    ids=["not-json", "not-declared-json", "too-large"],
)
def test_a_body_that_is_not_a_small_json_object_is_refused_before_it_is_parsed(
    event: dict[str, Any], status_code: int, code: str
) -> None:
    world = FakeWorld()

    response = uploads.lambda_handler(event, Context(), deps=world.deps())

    assert (response["statusCode"], body_of(response)["error"]["code"]) == (status_code, code)
    assert world.inputs.presigned_puts == []


def test_a_json_array_is_a_422_naming_the_body() -> None:
    response = uploads.lambda_handler(
        upload_event([{"content_type": "image/png"}]), Context(), deps=FakeWorld().deps()
    )

    assert response["statusCode"] == 422
    assert body_of(response)["detail"][0]["loc"] == ["body"]


def test_another_method_on_uploads_is_a_405_naming_post() -> None:
    event = load_event("create_upload")
    event["routeKey"] = "ANY /uploads"
    event["requestContext"]["http"]["method"] = "PUT"

    response = uploads.lambda_handler(event, Context(), deps=FakeWorld().deps())

    assert (response["statusCode"], response["headers"]["Allow"]) == (405, "POST")


def test_without_an_input_bucket_post_uploads_is_a_503() -> None:
    world = FakeWorld(upload_policy=UploadPolicy(bucket=None))

    response = uploads.lambda_handler(load_event("create_upload"), Context(), deps=world.deps())

    assert (response["statusCode"], body_of(response)["error"]["code"]) == (503, "dependency_unavailable")


# -- GET /jobs/{job_id}/video and /last-frame ----------------------------------------------------------
@pytest.mark.parametrize(
    ("event_name", "key"), [("get_job_video", "videos/j.mp4"), ("get_job_last_frame", "frames/j-last.png")]
)
def test_a_stored_output_is_a_302_to_its_presigned_get_that_nobody_caches(event_name: str, key: str) -> None:
    world = FakeWorld()
    job = stored(world, JobStatus.SUCCEEDED, video=VIDEO, last_frame=FRAME)

    response = status.lambda_handler(job_event(event_name, job.job_id), Context(), deps=world.deps())

    assert response["statusCode"] == 302
    assert response["headers"]["Location"] == f"https://videos.s3.example.com/{key}?expires=900"
    assert response["headers"]["Cache-Control"] == "no-store"
    assert not response.get("body")


@pytest.mark.parametrize(
    ("event_name", "output"), [("get_job_video", "video"), ("get_job_last_frame", "last frame")]
)
def test_a_job_without_the_output_is_a_409_in_the_error_shape(event_name: str, output: str) -> None:
    world = FakeWorld()
    job = stored(world, JobStatus.QUEUED)

    response = status.lambda_handler(job_event(event_name, job.job_id), Context(), deps=world.deps())

    assert response["statusCode"] == 409
    assert body_of(response) == {
        "error": {
            "code": "output_not_available",
            "message": f"job {job.job_id} is queued and has no {output}",
        }
    }


@pytest.mark.parametrize("event_name", ["get_job_video", "get_job_last_frame"])
def test_an_unknown_job_is_a_404_and_a_job_id_that_is_not_a_uuid_a_422(event_name: str) -> None:
    world = FakeWorld()

    unknown = status.lambda_handler(load_event(event_name), Context(), deps=world.deps())
    not_an_id = status.lambda_handler(job_event(event_name, "not-a-job"), Context(), deps=world.deps())

    assert (unknown["statusCode"], body_of(unknown)["error"]["code"]) == (404, "job_not_found")
    assert not_an_id["statusCode"] == 422
    assert [item["loc"] for item in body_of(not_an_id)["detail"]] == [["path", "job_id"]]


def test_a_query_parameter_on_an_output_link_is_a_422_naming_it() -> None:
    world = FakeWorld()
    job = stored(world, JobStatus.SUCCEEDED, video=VIDEO)
    event = job_event("get_job_video", job.job_id)
    event["queryStringParameters"] = {"download": "1"}

    response = status.lambda_handler(event, Context(), deps=world.deps())

    assert response["statusCode"] == 422
    assert body_of(response)["detail"][0]["loc"] == ["query", "download"]


# -- GET /openapi.json (events/get_openapi.json) -------------------------------------------------------
def test_get_openapi_json_serves_the_whole_document_gzipped_when_asked() -> None:
    response = status.lambda_handler(load_event("get_openapi"), Context(), deps=FakeWorld().deps())

    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["headers"]["Content-Encoding"] == "gzip"
    served = gzip.decompress(base64.b64decode(response["body"])).decode()
    assert served == published_openapi_document()
    assert {"/uploads", "/jobs/{job_id}/video", "/jobs/{job_id}/last-frame", "/openapi.json"} <= set(
        json.loads(served)["paths"]
    )


def test_get_openapi_json_is_plain_json_to_a_client_that_takes_no_gzip() -> None:
    event = load_event("get_openapi")
    del event["headers"]["accept-encoding"]

    response = status.lambda_handler(event, Context(), deps=FakeWorld().deps())

    assert (response["statusCode"], response["isBase64Encoded"]) == (200, False)
    assert json.loads(response["body"])["openapi"] == "3.1.0"


# -- what the functions' own documents declare ---------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "path", "method", "statuses"),
    [
        (uploads, "/uploads", "post", {201, 400, 413, 415, 422, 503}),
        (status, "/jobs/{job_id}/video", "get", {302, 404, 409, 422, 503}),
        (status, "/jobs/{job_id}/last-frame", "get", {302, 404, 409, 422, 503}),
        (status, "/openapi.json", "get", {200, 422}),
    ],
)
def test_the_openapi_document_declares_every_status_a_new_route_answers(
    module: Any, path: str, method: str, statuses: set[int]
) -> None:
    schema = module.app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
    responses = schema["paths"][path][method]["responses"]

    assert {int(code) for code in responses} == statuses
    for code, response in responses.items():
        if int(code) >= 400 and int(code) != 422:
            assert response["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    if 302 in statuses:
        assert set(responses[302]["headers"]) == {"Location"}
        assert responses[302]["content"] == {}
