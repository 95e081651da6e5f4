"""The presigned URLs of the S3 adapters against moto server over HTTP: the PUT of POST /uploads, signed
for exactly one Content-Length and Content-Type, and the GET of GET /jobs/{job_id}/video.

moto (5.2.5) does not check presigned signatures: it stores a PUT with another length, another type,
even a forged signature, and with its IAM checks switched on it fails on any presigned request (it
reads only the Authorization header). So what S3 would refuse is shown on the signature itself
(tests/presigned.py checks it as S3 does); one test pins moto's leniency, so that the day moto checks,
it says so.
"""

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.auth
import httpx
import pytest
from botocore.config import Config

from local.aws import ProvisionedStack
from tests.media_files import png_file
from tests.presigned import expected_signature, query_of, s3_would_accept, signed_headers
from videojobs.adapters.s3 import S3InputMedia, S3VideoStore
from videojobs.models import S3Location

SECRET = "testing"
PNG = png_file(32, 18)


@pytest.fixture(scope="module")
def s3(moto_endpoint: str) -> Any:
    """The client the functions build (bootstrap._s3): SigV4, as presigned URLs must be."""
    return boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4"),
    )


@pytest.fixture
def upload(
    s3: Any, aws_resources: ProvisionedStack, request: pytest.FixtureRequest
) -> tuple[S3Location, str]:
    location = S3Location(aws_resources.refs["InputsBucket"], f"uploads/{request.node.name}.png")
    url = S3InputMedia(s3).presign_put(
        location, content_type="image/png", size_bytes=len(PNG), expires_in_seconds=900
    )
    return location, url


DECLARED = {"Content-Type": "image/png", "Content-Length": str(len(PNG))}


def test_the_put_url_signs_the_length_the_type_and_the_host(upload: tuple[S3Location, str]) -> None:
    location, url = upload

    assert signed_headers(url) == ["content-length", "content-type", "host"]
    assert query_of(url)["X-Amz-Expires"] == "900"
    assert f"/{location.bucket}/{location.key}?" in url


def test_s3s_check_takes_the_declared_put_and_refuses_another_length_or_type(
    upload: tuple[S3Location, str],
) -> None:
    _, url = upload
    longer = {**DECLARED, "Content-Length": str(len(PNG) + 1)}
    other_type = {**DECLARED, "Content-Type": "image/jpeg"}
    no_length = {"Content-Type": "image/png"}

    assert (
        expected_signature(url, method="PUT", headers=DECLARED, secret_key=SECRET)
        == query_of(url)["X-Amz-Signature"]
    )
    assert s3_would_accept(url, method="PUT", headers=DECLARED, secret_key=SECRET)
    assert not s3_would_accept(url, method="PUT", headers=longer, secret_key=SECRET)
    assert not s3_would_accept(url, method="PUT", headers=other_type, secret_key=SECRET)
    assert not s3_would_accept(url, method="PUT", headers=no_length, secret_key=SECRET)
    assert not s3_would_accept(url, method="POST", headers=DECLARED, secret_key=SECRET)
    assert not s3_would_accept(url, method="PUT", headers=DECLARED, secret_key="another secret")
    later = datetime.now(UTC) + timedelta(seconds=901)
    assert not s3_would_accept(url, method="PUT", headers=DECLARED, secret_key=SECRET, now=later)


def test_signing_another_length_or_type_at_the_same_moment_gives_another_signature(
    s3: Any, aws_resources: ProvisionedStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # botocore's clock held still, so that only what is signed differs between the three URLs.
    moment = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment)
    inputs = S3InputMedia(s3)
    location = S3Location(aws_resources.refs["InputsBucket"], "uploads/same-moment.png")

    declared = [("image/png", len(PNG)), ("image/png", len(PNG) + 1), ("image/jpeg", len(PNG))]

    urls = [
        inputs.presign_put(location, content_type=content_type, size_bytes=size, expires_in_seconds=900)
        for content_type, size in declared
    ]

    assert {query_of(url)["X-Amz-Date"] for url in urls} == {"20261207T100000Z"}
    assert len({query_of(url)["X-Amz-Signature"] for url in urls}) == 3
    # Each URL's own request is the only one S3's check takes (at that moment).
    for url, (content_type, size) in zip(urls, declared, strict=True):
        taken = [
            s3_would_accept(
                url,
                method="PUT",
                headers={"Content-Type": other_type, "Content-Length": str(other_size)},
                secret_key=SECRET,
                now=moment,
            )
            for other_type, other_size in declared
        ]
        assert taken == [
            (other_type, other_size) == (content_type, size) for other_type, other_size in declared
        ]


def test_the_declared_put_stores_the_file_as_declared(s3: Any, upload: tuple[S3Location, str]) -> None:
    location, url = upload

    response = httpx.put(url, content=PNG, headers=DECLARED)

    assert response.status_code == 200, response.text
    stored = s3.head_object(Bucket=location.bucket, Key=location.key)
    assert (stored["ContentType"], stored["ContentLength"]) == ("image/png", len(PNG))


def test_moto_stores_what_s3_would_refuse_so_the_tests_check_the_signature(
    s3: Any, upload: tuple[S3Location, str]
) -> None:
    location, url = upload
    bigger = PNG + b"more"
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")

    answers = [
        httpx.put(url, content=bigger, headers={"Content-Type": "image/png"}).status_code,
        httpx.put(url, content=PNG, headers={"Content-Type": "image/jpeg"}).status_code,
        httpx.put(forged, content=PNG, headers=DECLARED).status_code,
    ]

    # If this fails, moto has started to check presigned signatures: test the refusals against it.
    assert answers == [200, 200, 200]
    assert not s3_would_accept(
        url,
        method="PUT",
        headers={"Content-Type": "image/png", "Content-Length": str(len(bigger))},
        secret_key=SECRET,
    )


def test_the_video_store_presigns_a_get_of_a_stored_video(s3: Any, aws_resources: ProvisionedStack) -> None:
    bucket = aws_resources.refs["VideosBucket"]
    data = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 4
    s3.put_object(Bucket=bucket, Key="videos/presigned.mp4", Body=data, ContentType="video/mp4")
    store = S3VideoStore(s3, bucket, part_size=5 * 1024 * 1024)

    url = store.presign_get(S3Location(bucket, "videos/presigned.mp4"), expires_in_seconds=900)
    fetched = httpx.get(url)

    assert query_of(url)["X-Amz-Expires"] == "900"
    assert s3_would_accept(url, method="GET", headers={}, secret_key=SECRET)
    assert hashlib.sha256(fetched.content).hexdigest() == hashlib.sha256(data).hexdigest()
    assert fetched.headers["content-type"] == "video/mp4"
