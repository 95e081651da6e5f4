"""The `seedance` client's API class, over httpx.MockTransport: uploads, cursors, the video's redirect,
errors as typed errors, waiting; its authorization (SigV4 checked the way the local front checks it);
and the submit flags as a request body."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.credentials import Credentials, InstanceMetadataProvider

from local.sigv4 import signature_problem
from seedance_cli.auth import LOCAL_CREDENTIALS, AwsSigV4, BearerToken, authorization, aws_auth, region_in
from seedance_cli.client import TERMINAL, JobFilters, SeedanceClient, WaitPolicy
from seedance_cli.errors import (
    ApiFailed,
    ApiRefused,
    ApiRejected,
    ApiUnreachable,
    ExitCode,
    UsageProblem,
    exit_code_of,
)
from seedance_cli.media import content_type_of
from seedance_cli.request import JobOptions, parse_since
from tests.media_files import png_file
from tests.unit.cli_fake_api import API, VIDEO_BYTES, FakeApi, job_view, succeeded
from videojobs.models import TERMINAL as PIPELINE_TERMINAL

SIGNED_BY_US = ("authorization", "x-amz-date", "x-amz-security-token")


@pytest.fixture
def fake() -> FakeApi:
    return FakeApi()


@pytest.fixture
def client(fake: FakeApi) -> SeedanceClient:
    return SeedanceClient(API, AwsSigV4(LOCAL_CREDENTIALS, "us-east-1"), transport=fake.transport)


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials anywhere botocore looks without the network; the metadata endpoints off."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


# -- uploads ---------------------------------------------------------------------------------------------
def test_a_file_goes_up_through_post_uploads_and_a_put_with_exactly_its_headers(
    fake: FakeApi, client: SeedanceClient, tmp_path: Path
) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(png_file())

    s3_url = client.upload_file(image, content_type="image/png")

    asked, put = fake.seen
    assert (asked.method, asked.path) == ("POST", "/uploads")
    assert asked.json() == {"content_type": "image/png", "size_bytes": len(png_file())}
    assert asked.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert (put.method, put.url) == ("PUT", "https://s3.test/inputs/uploads/1?X-Amz-Signature=presigned")
    assert put.body == png_file()
    assert put.headers["content-type"] == "image/png"
    assert put.headers["x-amz-meta-size"] == str(len(png_file()))
    assert put.headers["content-length"] == str(len(png_file()))
    assert "transfer-encoding" not in put.headers
    assert not any(name in put.headers for name in SIGNED_BY_US)
    assert s3_url == "s3://inputs/uploads/1"


def test_a_refused_put_is_an_error_naming_the_file_and_s3s_code(
    fake: FakeApi, client: SeedanceClient, tmp_path: Path
) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(png_file())
    fake.refuse_puts = "SignatureDoesNotMatch"

    with pytest.raises(ApiFailed, match=r"upload of .*cat.png was refused: 403 SignatureDoesNotMatch"):
        client.upload_file(image, content_type="image/png")


# -- listing ---------------------------------------------------------------------------------------------
def test_listing_follows_next_cursor_with_the_same_filters_until_the_limit(
    fake: FakeApi, client: SeedanceClient
) -> None:
    fake.listed = [job_view(status="failed") for _ in range(250)]
    since = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    filters = JobFilters(status="failed", provider="fal", client_reference="order-7", created_after=since)

    page = client.list_jobs(filters, limit=230)

    queries = [seen.query for seen in fake.seen]
    assert [query.get("cursor") for query in queries] == [None, "100", "200"]
    assert [query["limit"] for query in queries] == ["100", "100", "30"]
    for query in queries:
        assert query["status"] == "failed"
        assert query["provider"] == "fal"
        assert query["client_reference"] == "order-7"
        assert query["created_after"] == "2026-12-07T09:00:00Z"
    assert [job["job_id"] for job in page.jobs] == [job["job_id"] for job in fake.listed[:230]]
    assert page.next_cursor == "230"


def test_listing_stops_when_the_api_says_the_list_is_done(fake: FakeApi, client: SeedanceClient) -> None:
    fake.listed = [job_view() for _ in range(7)]

    page = client.list_jobs(JobFilters(), limit=25)

    assert len(fake.seen) == 1
    assert fake.seen[0].query == {"limit": "25"}
    assert (len(page.jobs), page.next_cursor) == (7, None)


def test_pages_that_come_back_short_are_followed_too(client: SeedanceClient) -> None:
    """With combined filters a page may hold fewer jobs than asked, even none, while more remain."""
    answers = iter(
        [
            {"jobs": [job_view()], "next_cursor": "a"},
            {"jobs": [], "next_cursor": "b"},
            {"jobs": [job_view(), job_view()], "next_cursor": None},
        ]
    )
    asked: list[dict[str, str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(dict(request.url.params))
        return httpx.Response(200, json=next(answers))

    lister = SeedanceClient(API, BearerToken("t"), transport=httpx.MockTransport(handle))

    page = lister.list_jobs(JobFilters(status="failed", provider="fal"), limit=10)

    assert [(query["limit"], query.get("cursor")) for query in asked] == [
        ("10", None),
        ("9", "a"),
        ("9", "b"),
    ]
    assert (len(page.jobs), page.next_cursor) == (3, None)


# -- the video -------------------------------------------------------------------------------------------
def test_the_video_redirect_is_followed_to_s3_without_our_authorization(
    fake: FakeApi, client: SeedanceClient, tmp_path: Path
) -> None:
    job = succeeded("3f0c8f55-0000-4000-8000-000000000001")
    fake.videos[job["job_id"]] = VIDEO_BYTES

    saved = client.download_video(job["job_id"], tmp_path / "out", expected_sha256=job["video"]["sha256"])

    to_api, to_s3 = fake.seen
    assert to_api.path == f"/jobs/{job['job_id']}/video"
    assert to_api.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert to_s3.url == f"https://s3.test/videos/{job['job_id']}.mp4?X-Amz-Signature=get"
    assert not any(name in to_s3.headers for name in SIGNED_BY_US)
    assert saved.path == tmp_path / "out" / f"{job['job_id']}.mp4"
    assert saved.path.read_bytes() == VIDEO_BYTES
    assert saved.sha256 == hashlib.sha256(VIDEO_BYTES).hexdigest()
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [saved.path.name]


def test_a_video_whose_sha256_differs_from_the_jobs_is_not_kept(
    fake: FakeApi, client: SeedanceClient, tmp_path: Path
) -> None:
    job_id = "3f0c8f55-0000-4000-8000-000000000002"
    fake.videos[job_id] = VIDEO_BYTES

    with pytest.raises(ApiFailed, match="sha256"):
        client.download_video(job_id, tmp_path, expected_sha256="0" * 64)

    assert list(tmp_path.iterdir()) == []


def test_no_video_yet_is_the_apis_409_with_its_message(
    fake: FakeApi, client: SeedanceClient, tmp_path: Path
) -> None:
    with pytest.raises(ApiFailed) as raised:
        client.download_video("3f0c8f55-0000-4000-8000-000000000003", tmp_path)

    assert (raised.value.status, raised.value.code) == (409, "video_not_ready")
    assert "has no video yet" in raised.value.message
    assert exit_code_of(raised.value) == ExitCode.NOT_DONE
    assert list(tmp_path.iterdir()) == []


# -- errors ----------------------------------------------------------------------------------------------
def test_a_422_is_each_field_and_its_message(fake: FakeApi, client: SeedanceClient) -> None:
    fake.overrides[("POST", "/jobs")] = (
        422,
        {
            "detail": [
                {
                    "loc": ["body", "resolution"],
                    "msg": "eachlabs (fast) supports 480p, 720p",
                    "type": "unsupported",
                },
                {"loc": ["body", "reference_image_urls", 1], "msg": "not a media URL", "type": "value_error"},
            ]
        },
    )

    with pytest.raises(ApiRejected) as raised:
        client.create_job({"provider": "eachlabs", "prompt": "x"})

    assert raised.value.lines() == [
        "resolution: eachlabs (fast) supports 480p, 720p",
        "reference_image_urls.1: not a media URL",
    ]
    assert exit_code_of(raised.value) == ExitCode.USAGE


@pytest.mark.parametrize(
    ("status", "body"), [(403, {"message": "Forbidden"}), (401, {"message": "Unauthorized"})]
)
def test_401_and_403_are_refusals(fake: FakeApi, client: SeedanceClient, status: int, body: Any) -> None:
    fake.overrides[("GET", "/spend")] = (status, body)

    with pytest.raises(ApiRefused) as raised:
        client.spend()

    assert raised.value.lines() == [f"error: the API refused GET /spend: {body['message']} ({status})"]
    assert exit_code_of(raised.value) == ExitCode.UNREACHABLE


def test_a_refusal_from_a_loopback_api_says_which_credentials_it_takes() -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"message": "Forbidden"})

    local = SeedanceClient(
        "http://127.0.0.1:3000", BearerToken("t"), transport=httpx.MockTransport(forbidden)
    )

    with pytest.raises(ApiRefused, match="testing/testing"):
        local.providers()


def test_an_unknown_job_is_the_apis_error_code_and_message(client: SeedanceClient) -> None:
    with pytest.raises(ApiFailed) as raised:
        client.get_job("3f0c8f55-0000-4000-8000-000000000004")

    assert raised.value.lines() == [
        "error: GET /jobs/3f0c8f55-0000-4000-8000-000000000004: "
        "job 3f0c8f55-0000-4000-8000-000000000004 not found (404 job_not_found)"
    ]


def test_no_connection_is_unreachable_in_one_line(fake: FakeApi, client: SeedanceClient) -> None:
    fake.down = True

    with pytest.raises(ApiUnreachable) as raised:
        client.get_job("x")

    assert raised.value.lines() == [
        "error: cannot reach the API at http://api.test: [Errno 111] Connection refused"
    ]
    assert exit_code_of(raised.value) == ExitCode.UNREACHABLE


def test_a_job_id_cannot_walk_to_another_route(fake: FakeApi, client: SeedanceClient) -> None:
    with pytest.raises(ApiFailed):
        client.get_job("../spend")

    assert fake.seen[0].url == "http://api.test/jobs/..%2Fspend"


# -- waiting ---------------------------------------------------------------------------------------------
def waiting(sleeps: list[float]) -> WaitPolicy:
    return WaitPolicy(first=1.0, longest=3.0, growth=2.0, failures_allowed=2, sleep=sleeps.append)


def test_waiting_polls_until_the_job_ends_backing_off_to_a_ceiling(
    fake: FakeApi, client: SeedanceClient
) -> None:
    job_id = "3f0c8f55-0000-4000-8000-000000000005"
    fake.timelines[job_id] = [
        job_view(job_id, "queued"),
        job_view(job_id, "submitted"),
        job_view(job_id, "processing"),
        job_view(job_id, "processing"),
        succeeded(job_id),
    ]
    polled: list[str] = []
    sleeps: list[float] = []

    job = client.wait_for_end(
        job_id, on_poll=lambda view: polled.append(view["status"]), policy=waiting(sleeps)
    )

    assert job["status"] == "succeeded"
    assert polled == ["queued", "submitted", "processing", "processing", "succeeded"]
    assert sleeps == [1.0, 2.0, 3.0, 3.0]


def test_a_few_throttled_or_unavailable_polls_are_waited_out(fake: FakeApi, client: SeedanceClient) -> None:
    job_id = "3f0c8f55-0000-4000-8000-000000000006"
    fake.timelines[job_id] = [succeeded(job_id)]
    fake.poll_failures = [503, 429]

    job = client.wait_for_end(job_id, on_poll=lambda _: None, policy=waiting([]))

    assert job["status"] == "succeeded"


def test_too_many_failed_polls_in_a_row_end_the_wait(fake: FakeApi, client: SeedanceClient) -> None:
    job_id = "3f0c8f55-0000-4000-8000-000000000007"
    fake.timelines[job_id] = [succeeded(job_id)]
    fake.poll_failures = [503, 503, 503]

    with pytest.raises(ApiFailed) as raised:
        client.wait_for_end(job_id, on_poll=lambda _: None, policy=waiting([]))

    assert raised.value.status == 503


def test_an_unknown_job_ends_the_wait_at_once(client: SeedanceClient) -> None:
    with pytest.raises(ApiFailed) as raised:
        client.wait_for_end(
            "3f0c8f55-0000-4000-8000-000000000008", on_poll=lambda _: None, policy=waiting([])
        )

    assert raised.value.status == 404


def test_the_clients_final_statuses_are_the_pipelines() -> None:
    assert {status.value for status in PIPELINE_TERMINAL} == TERMINAL


# -- authorization ---------------------------------------------------------------------------------------
def test_requests_are_signed_as_the_local_front_checks_sigv4(fake: FakeApi, client: SeedanceClient) -> None:
    fake.listed = [job_view()]
    client.list_jobs(JobFilters(status="queued", created_after=datetime(2026, 12, 7, tzinfo=UTC)), limit=5)
    client.create_job({"provider": "auto", "prompt": "a kite"})

    for seen in fake.seen:
        target = seen.url.removeprefix(API)
        assert signature_problem(seen.method, target, seen.headers, seen.body) is None, target


def test_a_token_is_sent_as_a_bearer_and_nothing_is_signed(fake: FakeApi) -> None:
    with SeedanceClient(
        API, authorization(API, token="eyJ.jwt", profile=None), transport=fake.transport
    ) as bearer:
        bearer.providers()

    assert fake.seen[0].headers["authorization"] == "Bearer eyJ.jwt"
    assert "x-amz-date" not in fake.seen[0].headers


def test_credentials_come_from_botocores_chain(monkeypatch: pytest.MonkeyPatch, no_aws_config: None) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")

    auth = aws_auth("https://api.example.com")

    assert auth.credentials.access_key == "AKIAEXAMPLE"
    assert auth.region == "eu-west-1"


def test_a_profile_is_read_from_the_config_files(tmp_path: Path, no_aws_config: None) -> None:
    (tmp_path / "credentials").write_text(
        "[render]\naws_access_key_id = AKIARENDER\naws_secret_access_key = s\n"
    )
    (tmp_path / "config").write_text("[profile render]\nregion = ap-southeast-2\n")

    auth = aws_auth("https://api.example.com", profile="render")

    assert (auth.credentials.access_key, auth.region) == ("AKIARENDER", "ap-southeast-2")


def test_an_execute_api_endpoint_names_its_region(
    monkeypatch: pytest.MonkeyPatch, no_aws_config: None
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    url = "https://a1b2c3d4e5.execute-api.us-west-2.amazonaws.com"

    assert region_in(url) == "us-west-2"
    assert aws_auth(url).region == "us-west-2"
    assert region_in("https://video.example.com") is None


def test_a_loopback_api_with_no_credentials_signs_as_the_local_stack(
    monkeypatch: pytest.MonkeyPatch, no_aws_config: None
) -> None:
    def never(*_: Any) -> None:
        raise AssertionError("the instance metadata endpoint was asked")

    monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
    monkeypatch.setattr(InstanceMetadataProvider, "load", never)

    for url in ("http://127.0.0.1:3000", "http://localhost:3917", "http://[::1]:3000"):
        auth = aws_auth(url)
        assert (auth.credentials, auth.region) == (LOCAL_CREDENTIALS, "us-east-1"), url


def test_a_loopback_api_uses_configured_credentials_first(
    monkeypatch: pytest.MonkeyPatch, no_aws_config: None
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")

    auth = aws_auth("http://127.0.0.1:3000")

    assert (auth.credentials.access_key, auth.region) == ("AKIAEXAMPLE", "us-east-1")


def test_a_remote_api_with_no_credentials_is_refused_before_any_request(no_aws_config: None) -> None:
    with pytest.raises(ApiRefused, match="no AWS credentials"):
        aws_auth("https://api.example.com")


def test_a_remote_api_with_no_region_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, no_aws_config: None
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")

    with pytest.raises(UsageProblem, match="AWS_REGION"):
        aws_auth("https://video.example.com")


def test_a_missing_profile_is_a_refusal_in_one_line(no_aws_config: None) -> None:
    with pytest.raises(ApiRefused) as raised:
        aws_auth("http://127.0.0.1:3000", profile="nowhere")

    assert len(raised.value.lines()) == 1
    assert "nowhere" in raised.value.message


def test_temporary_credentials_are_sent_with_their_session_token(fake: FakeApi) -> None:
    auth = AwsSigV4(Credentials("ASIAEXAMPLE", "secret", "session-token"), "us-east-1")
    with SeedanceClient(API, auth, transport=fake.transport) as signed:
        signed.spend()

    assert fake.seen[0].headers["x-amz-security-token"] == "session-token"


# -- the submit flags as a request ---------------------------------------------------------------------
def test_every_flag_has_its_field_and_the_rest_stay_out() -> None:
    options = JobOptions(
        prompt="a cat wakes up",
        provider="fal",
        first_frame="cat.png",
        last_frame="https://example.com/last.png",
        reference_images=["a.png", "s3://inputs/b.png"],
        reference_videos=["https://example.com/v.mp4"],
        reference_audios=["song.mp3"],
        resolution="480p",
        duration=5,
        aspect_ratio="16:9",
        tier="fast",
        client_reference="order-7",
    )

    body = options.body(lambda value: value if "://" in value else f"s3://inputs/{value}")

    assert body == {
        "provider": "fal",
        "prompt": "a cat wakes up",
        "first_frame_url": "s3://inputs/cat.png",
        "last_frame_url": "https://example.com/last.png",
        "reference_image_urls": ["s3://inputs/a.png", "s3://inputs/b.png"],
        "reference_video_urls": ["https://example.com/v.mp4"],
        "reference_audio_urls": ["s3://inputs/song.mp3"],
        "resolution": "480p",
        "duration": 5,
        "aspect_ratio": "16:9",
        "tier": "fast",
        "client_reference": "order-7",
    }
    assert JobOptions(prompt="a kite").body(str) == {"provider": "auto", "prompt": "a kite"}


def test_local_files_are_checked_before_anything_is_sent(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(png_file())
    options = JobOptions(prompt="x", first_frame=str(tmp_path / "cat.png"), reference_videos=["missing.mp4"])

    with pytest.raises(UsageProblem, match=r"--reference-video missing.mp4: no such file"):
        options.local_files()


def test_content_types_come_from_the_files_first_bytes(tmp_path: Path) -> None:
    files = {
        "a.bin": png_file(),
        "b.bin": b"\xff\xd8\xff\xe0" + bytes(20),
        "c.bin": b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        "d.bin": b"\x00\x00\x00\x18ftypisom" + bytes(8),
        "e.mp3": bytes(20),
        "f.unknown": bytes(20),
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)

    assert [content_type_of(tmp_path / name) for name in files] == [
        "image/png",
        "image/jpeg",
        "image/webp",
        "video/mp4",
        "audio/mpeg",
        "application/octet-stream",
    ]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("1h", datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        ("30m", datetime(2026, 12, 7, 9, 30, tzinfo=UTC)),
        ("2d", datetime(2026, 12, 5, 10, 0, tzinfo=UTC)),
        ("1w", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
        ("90s", datetime(2026, 12, 7, 9, 58, 30, tzinfo=UTC)),
        ("2026-12-06T08:00:00Z", datetime(2026, 12, 6, 8, 0, tzinfo=UTC)),
        ("2026-12-06T09:00:00+01:00", datetime(2026, 12, 6, 8, 0, tzinfo=UTC)),
    ],
)
def test_since_is_a_span_back_from_now_or_a_moment(given: str, expected: datetime) -> None:
    assert parse_since(given, datetime(2026, 12, 7, 10, 0, tzinfo=UTC)) == expected


def test_a_moment_without_an_offset_is_local_time() -> None:
    moment = parse_since("2026-12-06T08:00:00", datetime(2026, 12, 7, tzinfo=UTC))

    assert moment.tzinfo is not None
    assert moment.replace(tzinfo=None) == datetime(2026, 12, 6, 8, 0)
    assert moment.utcoffset() == datetime(2026, 12, 6, 8, 0).astimezone().utcoffset()


@pytest.mark.parametrize("given", ["yesterday", "1y", "-1h", ""])
def test_a_since_that_is_neither_is_a_usage_error(given: str) -> None:
    with pytest.raises(UsageProblem, match="--since"):
        parse_since(given, datetime(2026, 12, 7, tzinfo=UTC) - timedelta(0))
