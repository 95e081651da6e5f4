"""s3:// inputs: checked before any write, then presigned or uploaded just before the create call."""

from typing import Any

import pytest

from tests.support import FakeWorld, submit_job
from videojobs.errors import ProviderError, RequestRejected
from videojobs.models import JobRequest, JobStatus

PNG = ("image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 100)
MP4 = ("video/mp4", b"\x00\x00\x00\x18ftypisom" + b"1" * 200)


def world_with_inputs() -> FakeWorld:
    world = FakeWorld()
    world.inputs.objects = {"s3://inputs/start.png": PNG, "s3://inputs/clips/ref.mp4": MP4}
    return world


def job_request(provider: str, **fields: Any) -> JobRequest:
    return JobRequest.model_validate({"provider": provider, "prompt": "p", **fields})


def test_a_provider_without_uploads_gets_presigned_urls_and_the_job_keeps_the_s3_url() -> None:
    world = world_with_inputs()

    job = submit_job(
        job_request(
            "eachlabs",
            first_frame_url="s3://inputs/start.png",
            last_frame_url="https://cdn.example.com/e.png",
        ),
        world.deps(),
    )

    sent, _ = world.provider.created[0]
    assert sent.first_frame_url == world.inputs.presigned[0]
    assert sent.first_frame_url.startswith("https://inputs.s3.example.com/start.png?expires=3600")
    assert sent.last_frame_url == "https://cdn.example.com/e.png"
    assert job.request.first_frame_url == "s3://inputs/start.png"
    assert world.provider.uploads == []


@pytest.mark.parametrize("provider", ["atlascloud", "jobs_api"])
def test_a_provider_with_an_upload_endpoint_gets_the_bytes_uploaded(provider: str) -> None:
    world = world_with_inputs()

    submit_job(
        job_request(
            provider,
            reference_image_urls=["s3://inputs/start.png", "https://cdn.example.com/b.png"],
            reference_video_urls=["s3://inputs/clips/ref.mp4"],
        ),
        world.deps(),
    )

    fake = world.providers[provider]
    uploaded = [
        (media.filename, media.kind, media.content_type, media.size_bytes, data)
        for media, data in fake.uploads
    ]
    assert uploaded == [
        ("start.png", "image", "image/png", len(PNG[1]), PNG[1]),
        ("ref.mp4", "video", "video/mp4", len(MP4[1]), MP4[1]),
    ]
    sent, _ = fake.created[0]
    assert sent.reference_image_urls == [
        "https://uploads.example.com/1/start.png",
        "https://cdn.example.com/b.png",
    ]
    assert sent.reference_video_urls == ["https://uploads.example.com/2/ref.mp4"]
    assert world.inputs.presigned == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("s3://someone-else/start.png", "s3://someone-else is not one of this pipeline's input buckets"),
        ("s3://inputs/nope.png", "s3://inputs/nope.png does not exist"),
    ],
)
def test_an_s3_input_we_cannot_read_is_rejected_naming_the_field_before_any_write(
    url: str, reason: str
) -> None:
    world = world_with_inputs()

    with pytest.raises(RequestRejected) as rejected:
        submit_job(job_request("jobs_api", reference_video_urls=[url]), world.deps())

    assert (rejected.value.field, rejected.value.reason) == ("reference_video_urls", reason)
    assert world.jobs.writes == 0
    assert world.status_checks.scheduled == []


def test_a_failed_upload_fails_the_job_like_a_refused_create() -> None:
    world = world_with_inputs()
    fake = world.providers["atlascloud"]

    def refuse(media: object) -> str:
        raise ProviderError("atlascloud answered HTTP 413: too large", retryable=False)

    fake.upload_media = refuse  # type: ignore[method-assign]

    job = submit_job(job_request("atlascloud", first_frame_url="s3://inputs/start.png"), world.deps())

    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "413" in job.error.message
    assert fake.created == []
    assert world.capacity.holders == {}  # the slot it took for the create went back
