import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support import FakeVideoSource, FakeWorld, fake_mp4, submit_job
from videojobs.errors import TransferFailed
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.transfer import fail_dead_lettered_transfer, transfer_video, video_key
from videojobs.models import Job, JobRequest, JobStatus, ProviderState, ProviderUpdate, TransferRequest
from videojobs.ports import Download, DownloadPolicy

OUTPUT = "https://cdn.example.com/out.mp4"


@dataclasses.dataclass
class ServedAs(FakeVideoSource):
    """FakeVideoSource whose downloads carry the Content-Type given per URL (default video/mp4)."""

    content_types: dict[str, str | None] = dataclasses.field(default_factory=dict)

    @contextmanager
    def open(self, url: str, policy: DownloadPolicy) -> Iterator[Download]:
        with super().open(url, policy) as download:
            yield dataclasses.replace(download, content_type=self.content_types.get(url, "video/mp4"))


def transferring(world: FakeWorld, output: str = OUTPUT, body: bytes | None = None) -> TransferRequest:
    job = submit_job(JobRequest(provider="eachlabs", prompt="a lighthouse"), world.deps())
    update = ProviderUpdate(
        provider_job_id=job.provider_job_id or "", state=ProviderState.SUCCEEDED, output_url=output
    )
    apply_provider_update(job, update, world.deps())
    world.source.files[output] = fake_mp4() if body is None else body
    return world.transfers.sent[-1]


def stored(world: FakeWorld, request: TransferRequest) -> Job:
    return world.jobs.jobs[request.job_id]


def test_the_video_is_copied_hashed_and_announced_once() -> None:
    world = FakeWorld()
    request = transferring(world)

    transfer_video(request, world.deps())
    transfer_video(request, world.deps())

    job = stored(world, request)
    data = world.source.files[OUTPUT]
    assert job.status is JobStatus.SUCCEEDED
    assert job.video is not None
    assert job.video.key == video_key(job.job_id) == f"videos/{job.job_id}.mp4"
    assert job.video.sha256 == hashlib.sha256(data).hexdigest()
    assert job.video.size_bytes == len(data)
    assert world.videos.objects[job.video.key] == data
    assert [event.job_id for event in world.events.succeeded] == [job.job_id]
    assert world.source.opened == [OUTPUT]


def test_a_cut_download_stores_nothing_and_asks_for_a_retry() -> None:
    world = FakeWorld()
    request = transferring(world)
    world.source.cut_next = 1

    with pytest.raises(TransferFailed):
        transfer_video(request, world.deps())

    assert world.videos.objects == {}
    assert stored(world, request).status is JobStatus.TRANSFERRING
    assert stored(world, request).transfer_error == "connection reset"

    transfer_video(request, world.deps())
    assert stored(world, request).status is JobStatus.SUCCEEDED
    assert stored(world, request).transfer_error is None


def test_a_file_that_is_not_an_mp4_fails_the_job_without_retry() -> None:
    world = FakeWorld()
    request = transferring(world, body=b"<html>expired</html>" * 10)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "ftyp" in job.error.message
    assert world.videos.objects == {}
    assert len(world.events.failed) == 1


@pytest.mark.parametrize(
    "url", ["http://cdn.example.com/out.mp4", "https://evil.example.net/out.mp4", "https://127.0.0.1/x.mp4"]
)
def test_an_output_url_outside_the_allowlist_is_never_fetched(url: str) -> None:
    world = FakeWorld()
    request = transferring(world, output=url)

    transfer_video(request, world.deps())

    assert stored(world, request).status is JobStatus.FAILED
    assert world.source.opened == []


def test_a_dead_lettered_transfer_fails_the_job_with_the_last_reason() -> None:
    world = FakeWorld()
    request = transferring(world)
    world.source.cut_next = 5
    for _ in range(3):
        with pytest.raises(TransferFailed):
            transfer_video(request, world.deps())

    fail_dead_lettered_transfer(request, world.deps())
    fail_dead_lettered_transfer(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "connection reset" in job.error.message
    assert len(world.events.failed) == 1


FRAME = "https://cdn.example.com/last.png"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(200))


def transferring_with_frame(
    world: FakeWorld, frame: bytes, frame_type: str | None = "image/png"
) -> TransferRequest:
    world.source = ServedAs(content_types={FRAME: frame_type})
    job = submit_job(
        JobRequest(provider="gateway", prompt="a lighthouse", return_last_frame=True), world.deps()
    )
    update = ProviderUpdate(
        provider_job_id=job.provider_job_id or "",
        state=ProviderState.SUCCEEDED,
        output_url=OUTPUT,
        last_frame_url=FRAME,
    )
    apply_provider_update(job, update, world.deps())
    world.source.files.update({OUTPUT: fake_mp4(), FRAME: frame})
    return world.transfers.sent[-1]


def test_the_last_frame_is_stored_next_to_the_video() -> None:
    world = FakeWorld()
    request = transferring_with_frame(world, PNG_BYTES)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.SUCCEEDED
    assert job.last_frame is not None
    assert job.last_frame.key == f"frames/{job.job_id}-last.png"
    assert job.last_frame.content_type == "image/png"
    assert job.last_frame.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()
    assert world.videos.objects[job.last_frame.key] == PNG_BYTES
    assert world.events.succeeded[0].view().last_frame == job.last_frame


def test_a_last_frame_that_is_not_a_png_fails_the_job_before_the_video_is_copied() -> None:
    world = FakeWorld()
    request = transferring_with_frame(world, b"<html>expired</html>")

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.message == "output is not a PNG"
    assert world.videos.objects == {}
    assert world.source.opened == [FRAME]


@pytest.mark.parametrize(
    "content_type",
    ["video/mp4", "Video/MP4", "application/octet-stream; charset=binary", "binary/octet-stream"],
)
def test_the_video_may_be_served_as_mp4_or_octet_stream(content_type: str) -> None:
    world = FakeWorld()
    world.source = ServedAs(content_types={OUTPUT: content_type})
    request = transferring(world)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.SUCCEEDED
    assert job.video is not None
    assert job.video.content_type == "video/mp4"


@pytest.mark.parametrize(
    ("content_type", "served"),
    [
        ("text/html; charset=utf-8", "served as text/html"),
        ("image/png", "served as image/png"),
        (None, "served without a Content-Type"),
    ],
)
def test_a_video_served_as_anything_else_fails_the_job_before_any_upload(
    content_type: str | None, served: str
) -> None:
    world = FakeWorld()
    world.source = ServedAs(content_types={OUTPUT: content_type})
    request = transferring(world)  # the bytes are a good MP4: the type alone refuses it

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == "output_rejected"
    assert job.error.message == f"output is {served}, not video/mp4"
    assert world.videos.objects == {}
    assert world.videos.aborted == []  # refused before the upload started


@pytest.mark.parametrize("frame_type", ["image/png", "application/octet-stream", "binary/octet-stream; x=y"])
def test_the_last_frame_may_be_served_as_png_or_octet_stream(frame_type: str) -> None:
    world = FakeWorld()
    request = transferring_with_frame(world, PNG_BYTES, frame_type)

    transfer_video(request, world.deps())

    assert stored(world, request).status is JobStatus.SUCCEEDED


@pytest.mark.parametrize("frame_type", ["video/mp4", "text/html", "image/jpeg"])
def test_a_last_frame_served_as_anything_else_fails_the_job(frame_type: str) -> None:
    world = FakeWorld()
    request = transferring_with_frame(world, PNG_BYTES, frame_type)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.message == f"output is served as {frame_type}, not image/png"
    assert world.source.opened == [FRAME]
    assert world.videos.objects == {}
