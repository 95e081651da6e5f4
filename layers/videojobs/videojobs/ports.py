"""The ports the logic depends on. Adapters implement them; tests pass inspectable fakes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from videojobs.models import (
    Job,
    JobRequest,
    JobStatus,
    MediaKind,
    ProviderName,
    ProviderReceipt,
    ProviderUpdate,
    S3Location,
    StatusCheckRequest,
    TransferRequest,
    WebhookTarget,
)


class VideoProvider(Protocol):
    """One provider dialect. Wire formats stay inside the adapter; only our models cross."""

    @property
    def name(self) -> ProviderName: ...

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        """Every media URL in ``request`` is already public https. A dialect without webhooks
        ignores ``webhook``. Raises ProviderError."""
        ...

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        """Verify the provider's signature where it signs, then parse. Raises WebhookUnauthorized
        or InvalidWebhook."""
        ...

    def get_prediction(self, provider_job_id: str) -> ProviderUpdate: ...


@dataclass(frozen=True)
class MediaFile:
    """An input file on its way to a provider's upload endpoint, streamed, its size known up front."""

    filename: str
    content_type: str
    kind: MediaKind
    size_bytes: int
    chunks: Iterable[bytes]


@runtime_checkable
class MediaUploader(Protocol):
    """A provider with an upload endpoint (see ``ProviderCapabilities.uploads``)."""

    def upload_media(self, media: MediaFile) -> str:
        """Upload the file; returns the https URL to use in the create call. Raises ProviderError."""
        ...


class InputMedia(Protocol):
    """Input files given as s3://bucket/key. Raises DependencyUnavailable when S3 fails."""

    def exists(self, location: S3Location) -> bool: ...

    def presign(self, location: S3Location, *, expires_in_seconds: int) -> str: ...

    def open(self, location: S3Location, kind: MediaKind) -> AbstractContextManager[MediaFile]: ...


class StatusChecks(Protocol):
    def schedule(self, request: StatusCheckRequest, *, delay_seconds: int) -> None:
        """Deliver ``request`` to the status-check function in ``delay_seconds`` (at most 900)."""
        ...


class JobStore(Protocol):
    def create(self, job: Job) -> None: ...

    def get(self, job_id: str) -> Job | None: ...

    def transition(
        self,
        job_id: str,
        *,
        to: JobStatus,
        allowed_from: Iterable[JobStatus],
        changes: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Job | None:
        """Move the job to ``to`` if its status is one of ``allowed_from``, atomically.

        Returns the job after the write, or None when the condition did not hold (a duplicate,
        late or out-of-order update): the caller then does nothing more.
        """
        ...

    def record_transfer_error(self, job_id: str, message: str, *, now: datetime) -> None: ...


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    size_bytes: int


class VideoStore(Protocol):
    def upload_stream(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> StoredObject:
        """Store the chunks as one object. On any error nothing is left behind, not even parts."""
        ...


@dataclass(frozen=True)
class Download:
    content_type: str | None
    content_length: int | None
    chunks: Iterator[bytes]


class DownloadPolicy(Protocol):
    def check(self, url: str) -> None:
        """Raise OutputRejected unless the URL may be fetched."""
        ...


class VideoSource(Protocol):
    def open(self, url: str, policy: DownloadPolicy) -> AbstractContextManager[Download]: ...


class TransferQueue(Protocol):
    def enqueue(self, request: TransferRequest) -> None: ...


class EventPublisher(Protocol):
    def job_succeeded(self, job: Job) -> None: ...

    def job_failed(self, job: Job) -> None: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
