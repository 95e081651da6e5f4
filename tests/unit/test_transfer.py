import hashlib

import pytest

from tests.support import FakeWorld, fake_mp4, submit_job
from videojobs.errors import TransferFailed
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.transfer import fail_dead_lettered_transfer, transfer_video, video_key
from videojobs.models import Job, JobRequest, JobStatus, ProviderState, ProviderUpdate, TransferRequest

OUTPUT = "https://cdn.example.com/out.mp4"


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


def transferring_with_frame(world: FakeWorld, frame: bytes) -> TransferRequest:
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
