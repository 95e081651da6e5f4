"""POST /uploads' logic (a presigned PUT under uploads/ for exactly the file stated) and the links to a
job's video and last frame (GET /jobs/{job_id}/video and /last-frame)."""

from datetime import timedelta
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from tests.support import FakeWorld, PresignedPut
from videojobs.dependencies import OutputPolicy, UploadPolicy
from videojobs.errors import DependencyUnavailable, JobNotFound, OutputNotAvailable, RequestRejected
from videojobs.logic.doors import DROPS_PREFIX, IMAGE_SUFFIXES
from videojobs.logic.intake import accept_job
from videojobs.logic.jobs import output_url
from videojobs.logic.uploads import UPLOADS_PREFIX, grant_upload
from videojobs.models import (
    INPUT_MEDIA_TYPES,
    HttpOrigin,
    InputMediaType,
    Job,
    JobRequest,
    JobStatus,
    S3Location,
    StoredFrame,
    StoredVideo,
    UploadRequest,
)


def upload(content_type: str = "image/png", size_bytes: int = 48213) -> UploadRequest:
    return UploadRequest.model_validate({"content_type": content_type, "size_bytes": size_bytes})


# -- the one list of input media types ----------------------------------------------------------------
def test_the_input_media_types_are_one_list_and_the_image_drops_take_its_images() -> None:
    assert tuple(INPUT_MEDIA_TYPES) == get_args(InputMediaType)
    assert IMAGE_SUFFIXES == (".png", ".jpg", ".jpeg", ".webp")
    kinds = {media_type: media.kind for media_type, media in INPUT_MEDIA_TYPES.items()}
    assert {kind for kind in kinds.values()} == {"image", "video", "audio"}
    assert all(media_type.startswith(f"{kind}/") for media_type, kind in kinds.items())


# -- POST /uploads ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content_type", "extension"),
    [("image/png", ".png"), ("image/jpeg", ".jpg"), ("video/quicktime", ".mov"), ("audio/mpeg", ".mp3")],
)
def test_an_upload_is_a_put_under_uploads_signed_for_the_stated_type_and_size(
    content_type: str, extension: str
) -> None:
    world = FakeWorld()

    grant = grant_upload(upload(content_type, 48213), world.deps())

    (signed,) = world.inputs.presigned_puts
    assert signed == PresignedPut(signed.location, content_type, 48213, 900)
    assert signed.location.bucket == "inputs"
    assert signed.location.key.startswith(UPLOADS_PREFIX)
    assert not signed.location.key.startswith(DROPS_PREFIX)
    assert signed.location.key.endswith(extension)
    assert grant.s3_url == f"s3://inputs/{signed.location.key}"
    assert grant.upload_url.startswith(f"https://inputs.s3.example.com/{signed.location.key}?put")
    assert grant.model_dump(mode="json")["headers"] == {
        "Content-Type": content_type,
        "Content-Length": "48213",
    }
    assert grant.expires_at == world.clock() + timedelta(seconds=900)


def test_every_upload_gets_a_key_of_its_own() -> None:
    world = FakeWorld()

    grants = [grant_upload(upload(), world.deps()) for _ in range(3)]

    assert len({grant.s3_url for grant in grants}) == 3


def test_the_s3_url_of_an_upload_is_a_media_input_the_intake_accepts() -> None:
    world = FakeWorld()
    grant = grant_upload(upload(), world.deps())
    world.inputs.objects[grant.s3_url] = ("image/png", b"\x89PNG\r\n\x1a\n")

    job = accept_job(
        JobRequest(provider="eachlabs", prompt="p", first_frame_url=grant.s3_url), HttpOrigin(), world.deps()
    ).job

    assert job.status is JobStatus.QUEUED
    assert job.request.first_frame_url == grant.s3_url


def test_an_upload_not_yet_put_is_refused_by_the_intake_naming_the_field() -> None:
    world = FakeWorld()
    grant = grant_upload(upload(), world.deps())

    with pytest.raises(RequestRejected) as refused:
        accept_job(
            JobRequest(provider="eachlabs", prompt="p", first_frame_url=grant.s3_url),
            HttpOrigin(),
            world.deps(),
        )

    assert refused.value.field == "first_frame_url"
    assert "does not exist" in refused.value.reason


def test_a_size_over_max_upload_bytes_is_refused_naming_the_field_and_nothing_is_signed() -> None:
    world = FakeWorld(upload_policy=UploadPolicy(bucket="inputs", max_bytes=1000))

    with pytest.raises(RequestRejected) as refused:
        grant_upload(upload(size_bytes=1001), world.deps())
    grant_upload(upload(size_bytes=1000), world.deps())

    assert (refused.value.field, refused.value.reason) == (
        "size_bytes",
        "must be at most 1000 bytes (MAX_UPLOAD_BYTES)",
    )
    assert [signed.size_bytes for signed in world.inputs.presigned_puts] == [1000]


def test_without_an_input_bucket_an_upload_is_a_dependency_unavailable() -> None:
    world = FakeWorld(upload_policy=UploadPolicy(bucket=None))

    with pytest.raises(DependencyUnavailable, match="INPUT_BUCKET_NAMES"):
        grant_upload(upload(), world.deps())


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"content_type": "image/gif", "size_bytes": 10}, "content_type"),
        ({"content_type": "IMAGE/PNG", "size_bytes": 10}, "content_type"),
        ({"content_type": "image/png", "size_bytes": 0}, "size_bytes"),
        ({"content_type": "image/png", "size_bytes": "10"}, "size_bytes"),
        ({"content_type": "image/png", "size_bytes": 10.5}, "size_bytes"),
        ({"content_type": "image/png", "size_bytes": True}, "size_bytes"),
        ({"content_type": "image/png", "size_bytes": 5 * 1024**3 + 1}, "size_bytes"),
        ({"content_type": "image/png"}, "size_bytes"),
        ({"content_type": "image/png", "size_bytes": 10, "filename": "a.png"}, "filename"),
    ],
)
def test_the_upload_request_is_strict(body: dict[str, Any], loc: str) -> None:
    with pytest.raises(ValidationError) as invalid:
        UploadRequest.model_validate(body)

    assert [error["loc"] for error in invalid.value.errors()] == [(loc,)]


def test_a_whole_number_written_as_a_float_is_a_size_as_json_schema_says() -> None:
    assert upload(size_bytes=5.0).size_bytes == 5  # type: ignore[arg-type]


# -- GET /jobs/{job_id}/video and /last-frame ---------------------------------------------------------
def stored(world: FakeWorld, status: JobStatus, **changes: Any) -> Job:
    job = Job.new(JobRequest(provider="eachlabs", prompt="p"), now=world.clock(), retention=timedelta(days=1))
    world.jobs.create_if_absent(job.model_copy(update={"status": status, **changes}))
    return world.jobs.jobs[job.job_id]


VIDEO = StoredVideo(bucket="videos", key="videos/j.mp4", size_bytes=10, sha256="ab", content_type="video/mp4")
FRAME = StoredFrame(
    bucket="videos", key="frames/j-last.png", size_bytes=5, sha256="cd", content_type="image/png"
)


def test_a_succeeded_job_links_to_its_video_and_last_frame_for_output_url_expiry_seconds() -> None:
    world = FakeWorld()
    job = stored(world, JobStatus.SUCCEEDED, video=VIDEO, last_frame=FRAME)
    deps = world.deps()

    assert output_url(job.job_id, "video", deps) == "https://videos.s3.example.com/videos/j.mp4?expires=900"
    assert output_url(job.job_id, "last frame", deps).startswith(
        "https://videos.s3.example.com/frames/j-last.png"
    )


def test_the_link_lives_as_long_as_the_output_policy_says() -> None:
    world = FakeWorld()
    world.output_policy = OutputPolicy(url_expiry_seconds=60)
    job = stored(world, JobStatus.SUCCEEDED, video=VIDEO)

    assert output_url(job.job_id, "video", world.deps()).endswith("?expires=60")


@pytest.mark.parametrize(
    "status", [JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.TRANSFERRING, JobStatus.FAILED]
)
def test_a_job_without_its_video_is_output_not_available_naming_its_status(status: JobStatus) -> None:
    world = FakeWorld()
    job = stored(world, status)

    with pytest.raises(OutputNotAvailable) as missing:
        output_url(job.job_id, "video", world.deps())

    assert str(missing.value) == f"job {job.job_id} is {status.value} and has no video"


def test_a_succeeded_job_that_asked_for_no_last_frame_has_none_to_link_to() -> None:
    world = FakeWorld()
    job = stored(world, JobStatus.SUCCEEDED, video=VIDEO)

    with pytest.raises(OutputNotAvailable, match="succeeded and has no last frame"):
        output_url(job.job_id, "last frame", world.deps())


def test_a_failed_job_whose_video_was_kept_links_to_it() -> None:
    # OUTPUT_MISMATCH=fail keeps the video in S3 for inspection and names it on the job.
    world = FakeWorld()
    job = stored(world, JobStatus.FAILED, video=VIDEO)

    assert output_url(job.job_id, "video", world.deps()).startswith(
        "https://videos.s3.example.com/videos/j.mp4"
    )


def test_an_unknown_job_has_no_link() -> None:
    with pytest.raises(JobNotFound):
        output_url("7d3f6c1e-2b4a-4e8f-9a51-0c6de2f4b8a9", "video", FakeWorld().deps())


def test_the_link_is_to_the_stored_object() -> None:
    world = FakeWorld()
    job = stored(world, JobStatus.SUCCEEDED, video=VIDEO, last_frame=FRAME)

    output_url(job.job_id, "video", world.deps())
    output_url(job.job_id, "last frame", world.deps())

    assert world.videos.presigned == [
        (S3Location("videos", "videos/j.mp4"), 900),
        (S3Location("videos", "frames/j-last.png"), 900),
    ]
