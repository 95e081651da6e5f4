"""S3: the videos bucket (multipart upload from a stream, parts uploading while the next one
downloads, memory bounded by the parts in flight plus one) and input files."""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import IO, TYPE_CHECKING, Any, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable, RequestRejected, TransferFailed
from videojobs.models import MediaKind, OpenUpload, S3Location
from videojobs.observability import logger
from videojobs.ports import MediaFile, ObjectInfo, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

#: What boto3's own transfer asks for: each part carries its CRC32, and S3 checks the whole object
#: against the parts' (a composite checksum) instead of reading it once more for a full-object one.
CHECKSUM: Final = "CRC32"
#: Names the threads that upload parts; none outlives the upload_stream call that started it.
PART_THREAD_PREFIX = "s3-part"


class S3VideoStore:
    """``part_size``: bytes per multipart part (the last may be smaller). ``parts_in_flight``: parts
    uploading while the next one fills; memory is ``(parts_in_flight + 1) * part_size``."""

    def __init__(self, client: S3Client, bucket: str, *, part_size: int, parts_in_flight: int = 2) -> None:
        if part_size < 1 or parts_in_flight < 1:
            raise ValueError("part_size and parts_in_flight must be positive")
        self._client = client
        self._bucket = bucket
        self._part_size = part_size
        self._parts_in_flight = parts_in_flight

    def upload_stream(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> StoredObject:
        try:
            upload_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=key, ContentType=content_type, ChecksumAlgorithm=CHECKSUM
            )["UploadId"]
        except (ClientError, BotoCoreError) as error:
            raise TransferFailed(f"could not start the upload: {error}") from error
        try:
            size = self._upload_parts_and_complete(key, upload_id, chunks)
        except BaseException as error:
            # Every part thread has ended by now, so no part lands after the abort.
            aborted = self._abort(key, upload_id)
            failure = error
            if isinstance(error, ClientError | BotoCoreError):
                failure = TransferFailed(f"upload failed: {error}")
            if isinstance(failure, TransferFailed) and not aborted:
                # The next attempt aborts it; a job that fails instead leaves it to the lifecycle rule.
                failure.left_open = (*failure.left_open, (key, upload_id))
            if failure is error:
                raise
            raise failure from error
        return StoredObject(bucket=self._bucket, key=key, size_bytes=size)

    def _upload_parts_and_complete(self, key: str, upload_id: str, chunks: Iterable[bytes]) -> int:
        def upload_part(number: int, body: memoryview) -> CompletedPartTypeDef:
            response = self._client.upload_part(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=cast("IO[bytes]", PartBody(body)),
                ChecksumAlgorithm=CHECKSUM,
            )
            part: CompletedPartTypeDef = {"ETag": response["ETag"], "PartNumber": number}
            if "ChecksumCRC32" in response:
                part["ChecksumCRC32"] = response["ChecksumCRC32"]
            return part

        part_size = self._part_size
        size = 0
        with _PartPool(upload_part, part_size=part_size, in_flight=self._parts_in_flight) as pool:
            target = pool.buffer()
            filled = 0
            for chunk in chunks:
                pool.raise_if_failed()
                view = memoryview(chunk)
                size += len(view)
                while len(view) >= part_size - filled:
                    taken = part_size - filled
                    target[filled:] = view[:taken]
                    view = view[taken:]
                    pool.submit(target)
                    target, filled = pool.buffer(), 0
                target[filled : filled + len(view)] = view
                filled += len(view)
            if filled or not pool.submitted:
                pool.submit(target[:filled])
            parts = pool.finish()
        self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return size

    def presign_get(self, location: S3Location, *, expires_in_seconds: int) -> str:
        # Signed locally, no call to S3; see S3InputMedia.presign on temporary credentials.
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": location.bucket, "Key": location.key},
            ExpiresIn=expires_in_seconds,
        )

    def discard_unfinished(self, uploads: Sequence[OpenUpload]) -> int:
        gone = sum(1 for upload in uploads if self._abort(upload.key, upload.upload_id))
        logger.info("uploads left open discarded", left_open=len(uploads), gone=gone)
        return gone

    def _abort(self, key: str, upload_id: str) -> bool:
        """Whether the upload is gone now (aborted, or already gone)."""
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as error:
            if (
                isinstance(error, ClientError)
                and error.response.get("Error", {}).get("Code") == "NoSuchUpload"
            ):
                return True
            # The bucket's lifecycle rule aborts what no attempt could.
            logger.warning("could not abort multipart upload", key=key, upload_id=upload_id, error=str(error))
            return False
        return True


class PartBody:
    """A part as the file botocore reads (for its checksum, its signature and the socket), served
    from the part's buffer in slices: no copy of the part is made."""

    def __init__(self, view: memoryview) -> None:
        self._view = view
        self._position = 0

    def __len__(self) -> int:
        return len(self._view)

    def read(self, size: int | None = -1) -> memoryview:
        start = self._position
        end = len(self._view) if size is None or size < 0 else min(start + size, len(self._view))
        self._position = max(start, end)
        return self._view[start:end]

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._position, len(self._view))[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


class _PartPool:
    """Uploads parts on ``in_flight`` threads while the caller fills the next buffer.

    At most ``in_flight + 1`` buffers of ``part_size`` exist; a buffer is filled again only once
    the upload that read it has returned. Leaving the ``with`` block waits for every started part
    and cancels the queued ones, so no thread outlives it.
    """

    def __init__(
        self, upload: Callable[[int, memoryview], CompletedPartTypeDef], *, part_size: int, in_flight: int
    ) -> None:
        self._upload = upload
        self._part_size = part_size
        self._most_buffers = in_flight + 1
        self._allocated = 0
        self._free: list[memoryview] = []
        self._pending: dict[Future[CompletedPartTypeDef], tuple[int, memoryview]] = {}
        self._done: dict[int, CompletedPartTypeDef] = {}
        self._failed = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix=PART_THREAD_PREFIX)
        self.submitted = 0

    def __enter__(self) -> _PartPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def buffer(self) -> memoryview:
        """A buffer to fill: a free one, a new one, or the next one an upload gives back."""
        while not self._free:
            if self._allocated < self._most_buffers:
                self._allocated += 1
                return memoryview(bytearray(self._part_size))
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            self._collect(done)
        return self._free.pop()

    def submit(self, part: memoryview) -> None:
        self.submitted += 1
        number = self.submitted
        future = self._executor.submit(self._upload, number, part)
        future.add_done_callback(self._note_failure)
        self._pending[future] = (number, part)

    def raise_if_failed(self) -> None:
        """Stops the download as soon as a part has failed; cheap enough to call for every chunk."""
        if self._failed.is_set():
            self._collect([future for future in self._pending if future.done()])

    def finish(self) -> list[CompletedPartTypeDef]:
        """Waits for every part; the first failure (by part number) is raised. Parts in order."""
        self._collect(wait(self._pending).done)
        return [self._done[number] for number in sorted(self._done)]

    def _collect(self, done: Iterable[Future[CompletedPartTypeDef]]) -> None:
        for future in sorted(done, key=lambda finished: self._pending[finished][0]):
            number, part = self._pending.pop(future)
            self._done[number] = future.result()
            if len(part) == self._part_size:
                self._free.append(part)

    def _note_failure(self, future: Future[CompletedPartTypeDef]) -> None:
        if not future.cancelled() and future.exception() is not None:
            self._failed.set()


class S3InputMedia:
    """InputMedia on S3: existence checks, presigned GETs and streamed reads of input files."""

    def __init__(self, client: S3Client, *, chunk_size: int = 1024 * 1024) -> None:
        self._client = client
        self._chunk_size = chunk_size

    def exists(self, location: S3Location) -> bool:
        try:
            self._client.head_object(Bucket=location.bucket, Key=location.key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise DependencyUnavailable(f"could not read s3://{location.bucket}: {error}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable(f"could not read s3://{location.bucket}: {error}") from error
        return True

    def describe(self, location: S3Location, *, etag: str | None) -> ObjectInfo | None:
        response = self._version(self._client.head_object, location, etag)
        if response is None:
            return None
        return ObjectInfo(
            content_type=response.get("ContentType"),
            size_bytes=response["ContentLength"],
            metadata={name.lower(): value for name, value in response.get("Metadata", {}).items()},
        )

    def read(self, location: S3Location, *, etag: str | None, max_bytes: int) -> bytes | None:
        response = self._version(self._client.get_object, location, etag)
        if response is None:
            return None
        body = response["Body"]
        try:
            if response["ContentLength"] > max_bytes:
                raise RequestRejected("file", f"is {response['ContentLength']} bytes; at most {max_bytes}")
            content: bytes = body.read()
            return content
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not read s3://{location.bucket}") from error
        finally:
            body.close()

    def _version(self, call: Callable[..., Any], location: S3Location, etag: str | None) -> Any:
        """``call`` (head_object or get_object) on the object as it was when ``etag`` was notified;
        None when it is gone or has been replaced since (the newer one has a notification of its own)."""
        conditions = {"IfMatch": etag if etag.startswith('"') else f'"{etag}"'} if etag else {}
        try:
            return call(Bucket=location.bucket, Key=location.key, **conditions)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _GONE_OR_REPLACED:
                return None
            raise DependencyUnavailable(f"could not read s3://{location.bucket}") from error
        except BotoCoreError as error:
            raise DependencyUnavailable(f"could not read s3://{location.bucket}") from error

    def presign(self, location: S3Location, *, expires_in_seconds: int) -> str:
        # Signed locally, no call to S3. With a role's temporary credentials the URL stops working
        # when they expire, whatever ExpiresIn says; keep the expiry short.
        return self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": location.bucket, "Key": location.key},
            ExpiresIn=expires_in_seconds,
        )

    def presign_put(
        self, location: S3Location, *, content_type: str, size_bytes: int, expires_in_seconds: int
    ) -> str:
        # botocore serializes ContentType and ContentLength as headers, and SigV4 query signing signs
        # every header the request has: X-Amz-SignedHeaders is content-length;content-type;host. S3
        # refuses a PUT whose headers differ from the signed ones (SignatureDoesNotMatch), and reads
        # no more body than the Content-Length it was sent.
        return self._client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": location.bucket,
                "Key": location.key,
                "ContentType": content_type,
                "ContentLength": size_bytes,
            },
            ExpiresIn=expires_in_seconds,
        )

    @contextmanager
    def open(self, location: S3Location, kind: MediaKind) -> Iterator[MediaFile]:
        try:
            response = self._client.get_object(Bucket=location.bucket, Key=location.key)
        except (ClientError, BotoCoreError) as error:
            raise DependencyUnavailable(f"could not read s3://{location.bucket}: {error}") from error
        body = response["Body"]
        filename = PurePosixPath(location.key).name
        content_type = response.get("ContentType") or ""
        if not content_type or content_type == "binary/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        try:
            yield MediaFile(
                filename=filename,
                content_type=content_type,
                kind=kind,
                size_bytes=response["ContentLength"],
                chunks=body.iter_chunks(self._chunk_size),
            )
        finally:
            body.close()


_GONE_OR_REPLACED = frozenset({"404", "NoSuchKey", "NotFound", "412", "PreconditionFailed"})
