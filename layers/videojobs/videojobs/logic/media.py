"""Input media given as s3://bucket/key: checked before anything is written, turned into a URL the
provider can fetch just before the create call (its upload endpoint where it has one, else a
presigned GET)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from videojobs.catalog.capabilities import capabilities_of, named_provider
from videojobs.dependencies import Dependencies
from videojobs.download_policy import public_url_problem
from videojobs.errors import RequestRejected
from videojobs.models import JobRequest, MediaKind, S3Location
from videojobs.ports import MediaUploader, VideoProvider

SINGLE_MEDIA_FIELDS: dict[str, MediaKind] = {"first_frame_url": "image", "last_frame_url": "image"}
LISTED_MEDIA_FIELDS: dict[str, MediaKind] = {
    "reference_image_urls": "image",
    "reference_video_urls": "video",
    "reference_audio_urls": "audio",
}


def _map_media(request: JobRequest, change: Callable[[str, str, MediaKind], str]) -> dict[str, Any]:
    """``change(field name, url, kind)`` applied to every media URL, as model_copy updates."""
    changes: dict[str, Any] = {}
    for field_name, kind in SINGLE_MEDIA_FIELDS.items():
        url = getattr(request, field_name)
        if url is not None:
            changes[field_name] = change(field_name, url, kind)
    for field_name, kind in LISTED_MEDIA_FIELDS.items():
        changes[field_name] = [change(field_name, url, kind) for url in getattr(request, field_name)]
    return changes


def check_media_inputs(request: JobRequest, deps: Dependencies) -> None:
    """Raise RequestRejected naming the field of the first input URL that names a private, loopback,
    link-local or reserved host, or of the first s3:// input we may not or cannot read."""

    def check(field_name: str, url: str, kind: MediaKind) -> str:
        location = S3Location.parse(url)
        if location is None:
            problem = public_url_problem(url, allow_loopback=deps.intake_policy.allow_loopback_urls)
            if problem:
                raise RequestRejected(field_name, problem)
            return url
        if location.bucket not in deps.input_policy.buckets:
            raise RequestRejected(
                field_name, f"s3://{location.bucket} is not one of this pipeline's input buckets"
            )
        if not deps.inputs.exists(location):
            raise RequestRejected(field_name, f"s3://{location.bucket}/{location.key} does not exist")
        return url

    _map_media(request, check)


def with_fetchable_media(request: JobRequest, provider: VideoProvider, deps: Dependencies) -> JobRequest:
    """The request with every s3:// input replaced by an https URL the provider can fetch.

    Raises ProviderError when an upload fails.
    """
    uploader: MediaUploader | None = None
    if capabilities_of(named_provider(request)).uploads:
        if not isinstance(provider, MediaUploader):
            raise TypeError(f"{request.provider} is listed with an upload endpoint but has no upload_media")
        uploader = provider

    def fetchable(field_name: str, url: str, kind: MediaKind) -> str:
        location = S3Location.parse(url)
        if location is None:
            return url
        if uploader is None:
            return deps.inputs.presign(location, expires_in_seconds=deps.input_policy.url_expiry_seconds)
        with deps.inputs.open(location, kind) as media:
            return uploader.upload_media(media)

    # model_copy skips validation on purpose: a presigned URL on the local stack is plain http.
    return request.model_copy(update=_map_media(request, fetchable))
