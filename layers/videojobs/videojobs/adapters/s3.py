"""S3: the videos bucket (multipart upload from a stream, memory bounded by one part) and input files."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import DependencyUnavailable, RequestRejected, TransferFailed
from videojobs.models import MediaKind, S3Location
from videojobs.observability import logger
from videojobs.ports import MediaFile, ObjectInfo, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef


class S3VideoStore:
    def __init__(self, client: S3Client, bucket: str, *, part_size: int) -> None:
        self._client = client
        self._bucket = bucket
        self._part_size = part_size

    def upload_stream(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> StoredObject:
        try:
            upload_id = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=key, ContentType=content_type
            )["UploadId"]
        except (ClientError, BotoCoreError) as error:
            raise TransferFailed(f"could not start the upload: {error}") from error
        try:
            size = self._upload_parts_and_complete(key, upload_id, chunks)
        except BaseException as error:
            self._abort(key, upload_id)
            if isinstance(error, ClientError | BotoCoreError):
                raise TransferFailed(f"upload failed: {error}") from error
            raise
        return StoredObject(bucket=self._bucket, key=key, size_bytes=size)

    def _upload_parts_and_complete(self, key: str, upload_id: str, chunks: Iterable[bytes]) -> int:
        parts: list[CompletedPartTypeDef] = []
        buffer = bytearray()
        size = 0

        def upload_part(body: bytes) -> None:
            number = len(parts) + 1
            etag = self._client.upload_part(
                Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )["ETag"]
            parts.append({"ETag": etag, "PartNumber": number})

        for chunk in chunks:
            buffer += chunk
            size += len(chunk)
            while len(buffer) >= self._part_size:
                upload_part(bytes(buffer[: self._part_size]))
                del buffer[: self._part_size]
        if buffer or not parts:
            upload_part(bytes(buffer))
        self._client.complete_multipart_upload(
            Bucket=self._bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
        return size

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError):
            # The bucket's lifecycle rule aborts what we could not.
            logger.exception("could not abort multipart upload", key=key)


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
