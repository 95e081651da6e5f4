"""POST /uploads: a presigned PUT into the inputs bucket under uploads/, for exactly the file the caller
states. Nothing is written here, and nothing under uploads/ starts a job (only drops/ does): the
object's s3:// URL goes into a job request's media fields, where the intake checks it like any other."""

from __future__ import annotations

import uuid
from datetime import timedelta

from videojobs.dependencies import Dependencies
from videojobs.errors import DependencyUnavailable, RequestRejected
from videojobs.models import INPUT_MEDIA_TYPES, S3Location, UploadGrant, UploadHeaders, UploadRequest

UPLOADS_PREFIX = "uploads/"


def grant_upload(request: UploadRequest, deps: Dependencies) -> UploadGrant:
    """Raises RequestRejected naming ``size_bytes`` over MAX_UPLOAD_BYTES, and DependencyUnavailable
    when the pipeline has no input bucket."""
    policy = deps.upload_policy
    if request.size_bytes > policy.max_bytes:
        raise RequestRejected("size_bytes", f"must be at most {policy.max_bytes} bytes (MAX_UPLOAD_BYTES)")
    if policy.bucket is None:
        raise DependencyUnavailable("uploads need an input bucket (INPUT_BUCKET_NAMES), and none is set")
    extension = INPUT_MEDIA_TYPES[request.content_type].extensions[0]
    location = S3Location(policy.bucket, f"{UPLOADS_PREFIX}{uuid.uuid4()}{extension}")
    signed_at = deps.clock().replace(microsecond=0)
    url = deps.inputs.presign_put(
        location,
        content_type=request.content_type,
        size_bytes=request.size_bytes,
        expires_in_seconds=policy.url_expiry_seconds,
    )
    return UploadGrant(
        upload_url=url,
        s3_url=f"s3://{location.bucket}/{location.key}",
        expires_at=signed_at + timedelta(seconds=policy.url_expiry_seconds),
        headers=UploadHeaders(content_type=request.content_type, content_length=str(request.size_bytes)),
    )
