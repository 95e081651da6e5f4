import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.media_files import mp4_file, mp4_layout, png_file
from tests.support import FakeVideoSource, FakeWorld, fake_mp4, submit_job
from videojobs.catalog.capabilities import CAPABILITIES
from videojobs.dependencies import OutputPolicy
from videojobs.errors import BrokenOutput, TransferFailed
from videojobs.logic.callback import apply_provider_update
from videojobs.logic.transfer import fail_dead_lettered_transfer, transfer_video, video_key
from videojobs.models import (
    FrameMetadata,
    Job,
    JobRequest,
    JobStatus,
    OpenUpload,
    OutputCheck,
    OutputMismatch,
    ProviderState,
    ProviderUpdate,
    TransferRequest,
    VideoMetadata,
)
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


def transferring(
    world: FakeWorld, output: str = OUTPUT, body: bytes | None = None, **asked: Any
) -> TransferRequest:
    asked = {"provider": "eachlabs", **asked}
    job = submit_job(JobRequest(prompt="a lighthouse", **asked), world.deps())
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


def test_the_upload_an_attempt_could_not_abort_is_aborted_by_the_next_attempt_and_no_other() -> None:
    world = FakeWorld()
    request = transferring(world)
    world.source.cut_next = 2
    world.videos.leave_open_next = "upload-1"  # the first attempt's abort is refused too

    for _ in range(2):  # the second attempt is cut as well, but its own abort goes through
        with pytest.raises(TransferFailed):
            transfer_video(request, world.deps())
    left = OpenUpload(key=video_key(request.job_id), upload_id="upload-1")
    assert stored(world, request).uploads_left_open == [left]
    assert world.videos.discarded == [left]  # by the second attempt, before its own upload

    transfer_video(request, world.deps())

    assert world.videos.discarded == [left, left]  # asked once more: it may have failed again
    assert stored(world, request).status is JobStatus.SUCCEEDED
    assert stored(world, request).uploads_left_open == []


def test_an_attempt_whose_abort_went_through_leaves_nothing_to_discard() -> None:
    world = FakeWorld()
    request = transferring(world)
    world.source.cut_next = 1
    with pytest.raises(TransferFailed):
        transfer_video(request, world.deps())

    transfer_video(request, world.deps())

    assert world.videos.discarded == []
    assert stored(world, request).status is JobStatus.SUCCEEDED


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
PNG_BYTES = png_file(64, 36)


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


# -- what the video holds, and whether it is what was asked for ---------------------------------------


def test_what_the_video_holds_is_recorded_on_the_job_and_its_event() -> None:
    world = FakeWorld()
    request = transferring(world, body=mp4_file(width=1280, height=720, seconds=5, fps=24, audio=True))

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.SUCCEEDED
    assert job.video is not None
    assert job.video.metadata == VideoMetadata(
        duration_seconds=5.0,
        width=1280,
        height=720,
        fps=24.0,
        video_codec="avc1",
        audio_codec="mp4a",
        has_audio=True,
    )
    assert job.video.checks == []
    assert job.warnings == []
    assert world.events.succeeded[0].view().video == job.video


@pytest.mark.parametrize("moov_first", [True, False])
def test_a_cut_mdat_behind_a_right_length_is_retried_then_fails_output_rejected(moov_first: bool) -> None:
    layout = mp4_layout(moov_first=moov_first, payload_size=8000)
    cut = layout.head + layout.mdat_header + bytes(4000) + layout.tail
    world = FakeWorld()
    request = transferring(world, body=cut)  # the fake serves Content-Length = the cut body's length

    for _ in range(3):
        with pytest.raises(BrokenOutput):
            transfer_video(request, world.deps())
        assert stored(world, request).status is JobStatus.TRANSFERRING
        assert world.videos.objects == {}
    fail_dead_lettered_transfer(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == "output_rejected"
    assert job.error.message.startswith("the provider's output is broken: the file ends inside its ")
    assert world.videos.aborted == [f"videos/{job.job_id}.mp4"] * 3
    assert world.events.succeeded == []


def test_the_last_try_decides_the_code_a_dead_lettered_transfer_fails_with() -> None:
    world = FakeWorld()
    layout = mp4_layout(payload_size=8000)
    request = transferring(world, body=layout.head + layout.mdat_header)
    with pytest.raises(BrokenOutput):
        transfer_video(request, world.deps())
    world.source.files[OUTPUT] = fake_mp4()
    world.source.cut_next = 1
    with pytest.raises(TransferFailed):
        transfer_video(request, world.deps())

    fail_dead_lettered_transfer(request, world.deps())

    job = stored(world, request)
    assert job.error is not None
    assert (job.error.code, job.error.message) == (
        "transfer_failed",
        "copying the video failed: connection reset",
    )


def test_a_broken_file_then_a_whole_one_succeeds_and_clears_the_error() -> None:
    world = FakeWorld()
    request = transferring(world, body=mp4_file().replace(b"vide", b"text", 1))
    with pytest.raises(BrokenOutput, match="no video track"):
        transfer_video(request, world.deps())
    assert stored(world, request).transfer_error_code == "output_rejected"

    world.source.files[OUTPUT] = fake_mp4()
    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.SUCCEEDED
    assert (job.transfer_error, job.transfer_error_code) == (None, None)


@pytest.mark.parametrize(
    ("asked", "received", "check"),
    [
        (
            {"provider": "byteplus", "resolution": "1080p"},
            {"width": 1280, "height": 720},
            OutputCheck(check="resolution", expected="1080p", actual="1280x720"),
        ),
        (
            {"resolution": "480p"},
            {"width": 1280, "height": 720},
            OutputCheck(check="resolution", expected="480p", actual="1280x720"),
        ),
        ({"duration": 10}, {"seconds": 5}, OutputCheck(check="duration", expected="10s", actual="5s")),
        ({"duration": 4}, {"seconds": 4.6}, OutputCheck(check="duration", expected="4s", actual="4.6s")),
        (
            {"generate_audio": True},
            {"audio": False},
            OutputCheck(check="audio", expected="an audio track", actual="no audio track"),
        ),
    ],
)
def test_a_video_that_differs_from_the_request_is_flagged_and_the_job_succeeds(
    asked: dict[str, Any], received: dict[str, Any], check: OutputCheck
) -> None:
    world = FakeWorld()
    request = transferring(world, body=mp4_file(**received), **asked)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.SUCCEEDED
    assert job.video is not None
    assert job.video.checks == [check]
    assert job.warnings == [check.warning]
    assert world.events.succeeded[0].view().warnings == [check.warning]


@pytest.mark.parametrize(
    ("asked", "received"),
    [
        ({"resolution": "720p"}, {"width": 1248, "height": 704}),
        ({"resolution": "480p"}, {"width": 864, "height": 480, "seconds": 5}),
        ({"provider": "byteplus", "resolution": "1080p"}, {"width": 1920, "height": 1088}),
        ({"duration": 4}, {"seconds": 4.5}),
        ({"duration": 15}, {"seconds": 14.3}),  # 5 % of 15 s is 0.75 s
        ({"duration": 15}, {"seconds": 15.75}),
        ({}, {"seconds": 11}),  # no duration asked: the provider's auto
        ({"generate_audio": False}, {"audio": False}),
        ({"generate_audio": False}, {"audio": True}),
    ],
)
def test_a_video_within_what_was_asked_has_no_checks(asked: dict[str, Any], received: dict[str, Any]) -> None:
    world = FakeWorld()
    request = transferring(world, body=mp4_file(**received), **asked)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.video is not None
    assert (job.video.checks, job.warnings) == ([], [])


def test_with_output_mismatch_fail_the_job_fails_and_the_video_stays_for_inspection() -> None:
    world = FakeWorld(output_policy=OutputPolicy(mismatch=OutputMismatch.FAIL))
    request = transferring(
        world, body=mp4_file(width=1280, height=720, audio=False), provider="byteplus", resolution="1080p"
    )

    transfer_video(request, world.deps())

    job = stored(world, request)
    key = f"videos/{job.job_id}.mp4"
    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert job.error.code == "output_mismatch"
    assert job.error.message == (
        "the video differs from the request (resolution: asked for 1080p, received 1280x720;"
        f" audio: asked for an audio track, received no audio track); it is kept at s3://videos/{key}"
    )
    assert key in world.videos.objects
    assert job.video is not None
    assert [check.check for check in job.video.checks] == ["resolution", "audio"]
    assert len(job.warnings) == 2
    assert world.events.succeeded == []
    assert world.events.failed[0].view().video == job.video


def test_with_output_mismatch_fail_a_matching_video_still_succeeds() -> None:
    world = FakeWorld(output_policy=OutputPolicy(mismatch=OutputMismatch.FAIL))
    request = transferring(world)

    transfer_video(request, world.deps())

    assert stored(world, request).status is JobStatus.SUCCEEDED


def test_the_audio_check_follows_the_capability_row(monkeypatch: pytest.MonkeyPatch) -> None:
    row = CAPABILITIES["eachlabs"]
    monkeypatch.setitem(CAPABILITIES, "eachlabs", dataclasses.replace(row, makes_audio=False))  # type: ignore[arg-type]
    world = FakeWorld()
    request = transferring(world, body=mp4_file(audio=False), generate_audio=True)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.video is not None
    assert job.video.checks == []


def test_a_moov_over_the_limit_makes_the_file_broken() -> None:
    world = FakeWorld(output_policy=OutputPolicy(max_moov_bytes=512))
    request = transferring(world)

    with pytest.raises(BrokenOutput, match="more than 512"):
        transfer_video(request, world.deps())

    assert world.videos.objects == {}


def test_the_last_frame_size_is_recorded() -> None:
    world = FakeWorld()
    request = transferring_with_frame(world, png_file(1280, 720))

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.last_frame is not None
    assert job.last_frame.metadata == FrameMetadata(width=1280, height=720)


def test_a_last_frame_without_iend_is_retried_and_nothing_is_stored() -> None:
    world = FakeWorld()
    request = transferring_with_frame(world, PNG_BYTES[:-12])

    with pytest.raises(BrokenOutput, match="no IEND"):
        transfer_video(request, world.deps())

    assert stored(world, request).status is JobStatus.TRANSFERRING
    assert world.videos.objects == {}
    assert world.source.opened == [FRAME]


# -- where `make mutate` found the transfer's tests too kind ----------------------------------------------


@dataclasses.dataclass
class Announcing(FakeVideoSource):
    """FakeVideoSource that announces ``extra`` more bytes than it sends, in ``chunk_size`` pieces."""

    extra: int = 0
    chunk_size: int = 1 << 20

    @contextmanager
    def open(self, url: str, policy: DownloadPolicy) -> Iterator[Download]:
        data = self.files[url]
        self.opened.append(url)
        pieces = (data[at : at + self.chunk_size] for at in range(0, len(data), self.chunk_size))
        yield Download(content_type="video/mp4", content_length=len(data) + self.extra, chunks=pieces)


def test_a_whole_mp4_shorter_than_its_content_length_is_a_cut_download() -> None:
    world = FakeWorld()
    world.source = Announcing(extra=5)
    request = transferring(world)
    size = len(world.source.files[OUTPUT])

    with pytest.raises(TransferFailed, match=f"^got {size} bytes of {size + 5}$") as failed:
        transfer_video(request, world.deps())

    assert not isinstance(failed.value, BrokenOutput)
    assert stored(world, request).transfer_error_code == "transfer_failed"
    assert stored(world, request).updated_at == world.clock()
    assert world.videos.objects == {}


def test_a_video_arriving_a_few_bytes_at_a_time_is_recognised_and_read() -> None:
    world = FakeWorld()
    world.source = Announcing(chunk_size=3)
    request = transferring(world)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert job.status is JobStatus.SUCCEEDED
    assert job.video is not None
    assert job.video.metadata is not None
    assert job.video.metadata.width == 1280


def test_the_stored_objects_carry_their_content_types() -> None:
    world = FakeWorld()
    request = transferring_with_frame(world, PNG_BYTES)

    transfer_video(request, world.deps())

    job = stored(world, request)
    assert world.videos.content_types == {
        f"frames/{job.job_id}-last.png": "image/png",
        f"videos/{job.job_id}.mp4": "video/mp4",
    }


def test_a_content_type_with_several_parameters_is_read_by_its_media_type() -> None:
    world = FakeWorld()
    world.source = ServedAs(content_types={OUTPUT: "video/mp4; codecs=avc1; profile=high"})
    request = transferring(world)

    transfer_video(request, world.deps())

    assert stored(world, request).status is JobStatus.SUCCEEDED


def test_a_transfer_for_an_unknown_job_does_nothing() -> None:
    world = FakeWorld()
    request = TransferRequest(job_id="5d0c6a4e-2c9e-4b9b-9d43-3f1c0e7a9b10", source_url=OUTPUT)

    assert transfer_video(request, world.deps()) is None
    assert world.source.opened == []


def test_a_transfer_redelivered_for_a_finished_job_closes_its_reservation_and_not_for_a_running_one() -> None:
    world = FakeWorld()
    request = transferring(world)
    transfer_video(request, world.deps())
    finished = stored(world, request)
    world.budget.reservations[finished.reservation_id] = (100, (), "reserved")

    transfer_video(request, world.deps())

    assert world.budget.reservations[finished.reservation_id][2] == "spent"
    running = submit_job(JobRequest(provider="eachlabs", prompt="a harbour"), world.deps())
    world.budget.reservations[running.reservation_id] = (100, (), "reserved")
    transfer_video(TransferRequest(job_id=running.job_id, source_url=OUTPUT), world.deps())
    assert world.budget.reservations[running.reservation_id][2] == "reserved"
