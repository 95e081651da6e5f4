"""VideoStore on S3: multipart upload from a stream, memory bounded by one part."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from videojobs.errors import TransferFailed
from videojobs.observability import logger
from videojobs.ports import StoredObject

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
