"""POST /uploads, GET /jobs/{job_id}/video and /last-frame, and GET /openapi.json through the local stack:
signed requests to the API front, a real PUT to the presigned URL on local S3, a job that uses the
upload, and the redirects followed to the bytes.

Local S3 (moto) does not check presigned signatures: it would store a PUT of any size or type (see
tests/integration/test_presigned_urls.py). So a PUT S3 would refuse is shown here on the URL's
signature, checked as S3 checks it (tests/presigned.py), and the PUT that is sent is the declared one.
"""

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from local.openapi import WRITTEN_PATHS
from local.sigv4 import LOCAL_CREDENTIALS
from local.stack import LocalStack
from tests.e2e.test_pipeline import prediction, submit
from tests.media_files import png_file
from tests.presigned import s3_would_accept, signed_headers

pytestmark = pytest.mark.e2e
Wait = Callable[..., dict[str, Any]]
PNG = png_file(64, 36)
SECRET = LOCAL_CREDENTIALS.secret_key


def grant_upload(
    api: httpx.Client, content_type: str = "image/png", size_bytes: int = len(PNG)
) -> dict[str, Any]:
    response = api.post("/uploads", json={"content_type": content_type, "size_bytes": size_bytes})
    assert response.status_code == 201, response.text
    grant: dict[str, Any] = response.json()
    return grant


def fetched(api: httpx.Client, path: str) -> bytes:
    """The bytes behind the route's 302, fetched as a client follows it: the URL as it is, unsigned."""
    answer = api.get(path)
    assert answer.status_code == 302, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return httpx.get(answer.headers["location"], timeout=30).raise_for_status().content


# -- POST /uploads --------------------------------------------------------------------------------------
def test_an_uploaded_png_becomes_the_first_frame_of_a_job_that_succeeds(
    stack: LocalStack, api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    grant = grant_upload(api)
    bucket = stack.ref("InputsBucket")

    put = httpx.put(grant["upload_url"], content=PNG, headers=grant["headers"], timeout=30)
    job = wait_for_job(submit(api, provider="eachlabs", first_frame_url=grant["s3_url"])["job_id"])

    assert put.status_code == 200, put.text
    assert grant["s3_url"].startswith(f"s3://{bucket}/uploads/")
    assert grant["headers"] == {"Content-Type": "image/png", "Content-Length": str(len(PNG))}
    key = grant["s3_url"].removeprefix(f"s3://{bucket}/")
    stored = stack.client("s3").get_object(Bucket=bucket, Key=key)
    assert (stored["ContentType"], stored["Body"].read()) == ("image/png", PNG)
    assert job["status"] == "succeeded", job
    assert job["request"]["first_frame_url"] == grant["s3_url"]
    sent = prediction(sim, job["provider_job_id"])["request"]["input"]["image_url"]
    assert httpx.get(sent, timeout=30).content == PNG


def test_the_upload_url_is_good_for_the_declared_size_and_type_only(api: httpx.Client) -> None:
    grant = grant_upload(api)
    url, declared = grant["upload_url"], grant["headers"]

    def s3_takes(**headers: str) -> bool:
        return s3_would_accept(url, method="PUT", headers={**declared, **headers}, secret_key=SECRET)

    assert signed_headers(url) == ["content-length", "content-type", "host"]
    assert s3_takes()
    assert not s3_takes(**{"Content-Length": str(len(PNG) + 1)})
    assert not s3_takes(**{"Content-Length": str(len(PNG) - 1)})
    assert not s3_takes(**{"Content-Type": "image/jpeg"})
    assert httpx.put(url, content=PNG, headers=declared, timeout=30).status_code == 200


def test_a_job_naming_an_upload_not_yet_put_is_a_422_naming_the_field(
    stack: LocalStack, api: httpx.Client
) -> None:
    grant = grant_upload(api, "video/mp4", 1000)
    before = stack.job_count()

    response = api.post(
        "/jobs",
        json={
            "provider": "gateway",
            "prompt": "p",
            "operation": "edit_video",
            "reference_video_urls": [grant["s3_url"]],
        },
    )

    assert response.status_code == 422, response.text
    assert [item["loc"] for item in response.json()["detail"]] == [["body", "reference_video_urls"]]
    assert grant["s3_url"].endswith(".mp4")
    assert stack.job_count() == before


def test_a_bad_upload_body_is_a_422_naming_the_field(api: httpx.Client) -> None:
    too_big = api.post("/uploads", json={"content_type": "image/png", "size_bytes": 50 * 1024 * 1024 + 1})
    not_media = api.post("/uploads", json={"content_type": "text/html", "size_bytes": 10})

    assert too_big.status_code == 422
    assert too_big.json()["detail"] == [
        {
            "loc": ["body", "size_bytes"],
            "msg": "must be at most 52428800 bytes (MAX_UPLOAD_BYTES)",
            "type": "unsupported",
        }
    ]
    assert not_media.status_code == 422
    assert [item["loc"] for item in not_media.json()["detail"]] == [["body", "content_type"]]


# -- GET /jobs/{job_id}/video and /last-frame -----------------------------------------------------------
def test_a_succeeded_jobs_video_and_last_frame_redirect_to_their_bytes(
    api: httpx.Client, wait_for_job: Wait
) -> None:
    job = wait_for_job(
        submit(api, provider="byteplus", resolution="480p", aspect_ratio="16:9", return_last_frame=True)[
            "job_id"
        ]
    )

    video = fetched(api, f"/jobs/{job['job_id']}/video")
    frame = fetched(api, f"/jobs/{job['job_id']}/last-frame")

    assert job["status"] == "succeeded", job
    assert hashlib.sha256(video).hexdigest() == job["video"]["sha256"]
    assert len(video) == job["video"]["size_bytes"]
    assert hashlib.sha256(frame).hexdigest() == job["last_frame"]["sha256"]


def test_a_job_still_at_its_provider_has_no_video_yet_409(
    api: httpx.Client, sim: httpx.Client, wait_for_job: Wait
) -> None:
    sim.post("/faults", json={"hold_in_queue": True}).raise_for_status()
    job_id = submit(api, provider="eachlabs")["job_id"]
    held = wait_for_job(job_id, until={"submitted", "processing"}, timeout=30)

    video = api.get(f"/jobs/{job_id}/video")
    frame = api.get(f"/jobs/{job_id}/last-frame")

    assert held["status"] in {"submitted", "processing"}, held
    assert video.status_code == 409
    assert video.json() == {
        "error": {
            "code": "output_not_available",
            "message": f"job {job_id} is {held['status']} and has no video",
        }
    }
    assert (frame.status_code, frame.json()["error"]["code"]) == (409, "output_not_available")
    api.post(f"/jobs/{job_id}/cancel").raise_for_status()  # leaves no held job for the next test


@pytest.mark.parametrize("output", ["video", "last-frame"])
def test_an_unknown_job_is_404(api: httpx.Client, output: str) -> None:
    response = api.get(f"/jobs/{uuid.uuid4()}/{output}")

    assert (response.status_code, response.json()["error"]["code"]) == (404, "job_not_found")


# -- GET /openapi.json ----------------------------------------------------------------------------------
def test_the_openapi_document_lists_every_route_and_is_the_one_make_openapi_wrote(api: httpx.Client) -> None:
    response = api.get("/openapi.json")

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"  # httpx asks for it, and unpacks it
    document = response.json()
    assert {"/uploads", "/jobs/{job_id}/video", "/jobs/{job_id}/last-frame", "/openapi.json"} <= set(
        document["paths"]
    )
    assert document == json.loads(WRITTEN_PATHS[0].read_text())


# -- who may call them ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/uploads", {"content_type": "image/png", "size_bytes": 10}),
        ("GET", "/jobs/{job_id}/video", None),
        ("GET", "/jobs/{job_id}/last-frame", None),
        ("GET", "/openapi.json", None),
    ],
)
def test_an_unsigned_request_to_a_new_route_is_403(
    stack: LocalStack, method: str, path: str, body: dict[str, Any] | None
) -> None:
    with httpx.Client(base_url=stack.api_url, timeout=30) as unsigned:
        response = unsigned.request(method, path.format(job_id=uuid.uuid4()), json=body)

    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
