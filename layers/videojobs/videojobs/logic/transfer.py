"""The transfer queue's work: stream the provider's output into S3, then mark the job succeeded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from videojobs.dependencies import Dependencies
from videojobs.errors import BrokenOutput, OutputRejected, TransferFailed
from videojobs.logic.budget import close_reservation
from videojobs.logic.outcomes import announce, deliver_pending_event, fail_job, pending
from videojobs.logic.output_checks import output_checks
from videojobs.models import (
    JOB_SUCCEEDED,
    TERMINAL,
    FrameMetadata,
    Job,
    JobError,
    JobStatus,
    OpenUpload,
    OutputMismatch,
    StoredFile,
    StoredFrame,
    StoredVideo,
    TransferRequest,
    VideoMetadata,
)
from videojobs.mp4 import Mp4Reader
from videojobs.observability import logger
from videojobs.png import PngReader
from videojobs.ports import Lost

TRANSFERRING_ONLY = frozenset({JobStatus.TRANSFERRING})


#: What a CDN may call any file; the magic bytes decide then.
OCTET_STREAM = frozenset({"application/octet-stream", "binary/octet-stream"})


@dataclass(frozen=True)
class OutputFormat:
    name: str
    content_type: str
    #: Recognises the first 8 bytes of a file of this format.
    opens_right: Callable[[bytes], bool]
    #: Media types (lower case, no parameters) a download of this format may be served as.
    served_as: frozenset[str]


MP4 = OutputFormat(
    "an MP4 (no ftyp box)",
    "video/mp4",
    lambda head: head[4:8] == b"ftyp",
    served_as=OCTET_STREAM | {"video/mp4"},
)
PNG = OutputFormat(
    "a PNG",
    "image/png",
    lambda head: head == b"\x89PNG\r\n\x1a\n",
    served_as=OCTET_STREAM | {"image/png"},
)


def check_served_type(content_type: str | None, kind: OutputFormat) -> None:
    """OutputRejected unless the download's Content-Type may be ``kind`` (parameters ignored)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in kind.served_as:
        served = f"served as {media_type}" if media_type else "served without a Content-Type"
        raise OutputRejected(f"output is {served}, not {kind.content_type}")


def video_key(job_id: str) -> str:
    return f"videos/{job_id}.mp4"


def last_frame_key(job_id: str) -> str:
    return f"frames/{job_id}-last.png"


class FileReader[Metadata](Protocol):
    """Reads a file's structure as its chunks pass (`Mp4Reader`, `PngReader`)."""

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> Metadata:
        """What the file holds; BrokenOutput when it is not whole."""
        ...


class CheckedStream[Metadata]:
    """Passes chunks through while hashing them and reading their structure; fails early unless the file
    opens as ``kind``, and before the last chunk is handed on when it is not whole (BrokenOutput), so
    the upload is never completed."""

    def __init__(
        self,
        chunks: Iterable[bytes],
        *,
        kind: OutputFormat,
        expected_size: int | None,
        reader: FileReader[Metadata],
    ) -> None:
        self._chunks = chunks
        self._kind = kind
        self._expected_size = expected_size
        self._reader = reader
        self._sha256 = hashlib.sha256()
        self.size_bytes = 0
        self._metadata: Metadata | None = None

    @property
    def metadata(self) -> Metadata:
        """What the reader found; only once the stream has been read to its end."""
        if self._metadata is None:
            raise RuntimeError("the stream has not been read to its end")
        return self._metadata

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def __iter__(self) -> Iterator[bytes]:
        head = b""
        checked = False
        for chunk in self._chunks:
            if not checked:
                head += chunk
                if len(head) < 8:
                    continue
                if not self._kind.opens_right(head[:8]):
                    raise OutputRejected(f"output is not {self._kind.name}")
                checked, chunk = True, head
            self._sha256.update(chunk)
            self._reader.feed(chunk)
            self.size_bytes += len(chunk)
            yield chunk
        if not checked:
            raise OutputRejected(f"output is not {self._kind.name} (too short)")
        # Both raised before the upload completes, so the partial copy is discarded.
        if self._expected_size is not None and self._expected_size != self.size_bytes:
            raise TransferFailed(f"got {self.size_bytes} bytes of {self._expected_size}")
        self._metadata = self._reader.finish()


def transfer_video(request: TransferRequest, deps: Dependencies) -> Job | None:
    """Copy once. Raises TransferFailed when another delivery of the message may succeed."""
    job = deps.jobs.get(request.job_id)
    if job is None or job.status is not JobStatus.TRANSFERRING:
        logger.info("transfer not needed", job_id=request.job_id, status=job.status if job else None)
        deliver_pending_event(job, deps)
        if job is not None and job.status in TERMINAL:
            close_reservation(job, deps)
        return None
    if job.uploads_left_open:
        deps.videos.discard_unfinished(job.uploads_left_open)
    outputs: dict[str, object] = {}
    try:
        # The frame is small and goes first: if it is unusable, no video is left without it.
        if request.last_frame_url is not None:
            frame, frame_metadata = _copy(
                job, request.last_frame_url, last_frame_key(job.job_id), PNG, PngReader(), deps
            )
            outputs["last_frame"] = StoredFrame(**frame.model_dump(), metadata=frame_metadata).model_dump()
        reader = Mp4Reader(max_moov_bytes=deps.output_policy.max_moov_bytes)
        stored, metadata = _copy(job, request.source_url, video_key(job.job_id), MP4, reader, deps)
    except OutputRejected as rejected:
        logger.warning("output rejected", job_id=job.job_id, reason=str(rejected))
        error = JobError(code=rejected.code, message=str(rejected))
        return fail_job(job, error, deps, allowed_from=TRANSFERRING_ONLY)
    except TransferFailed as failure:
        logger.warning("transfer attempt failed", job_id=job.job_id, reason=str(failure))
        left_open = [OpenUpload(key=key, upload_id=upload_id) for key, upload_id in failure.left_open]
        deps.jobs.record_transfer_error(
            job.job_id, str(failure), code=failure.code, now=deps.clock(), left_open=left_open
        )
        raise

    checks = output_checks(job, metadata)
    warnings = [check.warning for check in checks]
    video = StoredVideo(**stored.model_dump(), metadata=metadata, checks=checks)
    outputs["video"] = video.model_dump()
    outputs["warnings"] = warnings
    if checks and deps.output_policy.mismatch is OutputMismatch.FAIL:
        logger.warning("output differs from the request", job_id=job.job_id, warnings=warnings)
        mismatch = JobError(
            code="output_mismatch",
            message=f"the video differs from the request ({'; '.join(warnings)});"
            f" it is kept at s3://{video.bucket}/{video.key}",
        )
        return fail_job(job, mismatch, deps, allowed_from=TRANSFERRING_ONLY, changes=outputs)

    changes = {
        "transfer_error": None,
        "transfer_error_code": None,
        "uploads_left_open": [],
        **outputs,
        **pending(JOB_SUCCEEDED, deps),
    }
    succeeded = deps.jobs.transition(
        job.job_id, to=JobStatus.SUCCEEDED, allowed_from=TRANSFERRING_ONLY, changes=changes, now=deps.clock()
    )
    if isinstance(succeeded, Lost):
        return None
    logger.info("video stored", job_id=job.job_id, key=video.key, size_bytes=video.size_bytes)
    announce(succeeded, deps)
    close_reservation(succeeded, deps)
    return succeeded


def _copy[Metadata: (VideoMetadata, FrameMetadata)](
    job: Job, source_url: str, key: str, kind: OutputFormat, reader: FileReader[Metadata], deps: Dependencies
) -> tuple[StoredFile, Metadata]:
    policy = deps.download_policies[job.provider]
    policy.check(source_url)
    with deps.source.open(source_url, policy) as download:
        check_served_type(download.content_type, kind)
        stream = CheckedStream(
            download.chunks, kind=kind, expected_size=download.content_length, reader=reader
        )
        stored = deps.videos.upload_stream(key, stream, content_type=kind.content_type)
    stored_file = StoredFile(
        bucket=stored.bucket,
        key=stored.key,
        size_bytes=stream.size_bytes,
        sha256=stream.sha256,
        content_type=kind.content_type,
    )
    return stored_file, stream.metadata


def fail_dead_lettered_transfer(request: TransferRequest, deps: Dependencies) -> Job | None:
    """The message ran out of deliveries: the job fails with the last attempt's reason."""
    job = deps.jobs.get(request.job_id)
    if job is None:
        return None
    reason = job.transfer_error or "transfer message was dead-lettered"
    if job.transfer_error_code == BrokenOutput.code:
        error = JobError(code=BrokenOutput.code, message=f"the provider's output is broken: {reason}")
    else:
        error = JobError(code="transfer_failed", message=f"copying the video failed: {reason}")
    return fail_job(job, error, deps, allowed_from=TRANSFERRING_ONLY)
