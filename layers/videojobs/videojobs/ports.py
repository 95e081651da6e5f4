"""The ports the logic depends on. Adapters implement them; tests pass inspectable fakes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from videojobs.models import (
    BreakerState,
    DispatchRequest,
    Job,
    JobListFilters,
    JobRejection,
    JobRequest,
    JobStatus,
    MediaKind,
    Notification,
    OpenUpload,
    ProviderHealthChange,
    ProviderName,
    ProviderReceipt,
    ProviderUpdate,
    S3Location,
    SlotWait,
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

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        """The prediction's state now. ``links``: what the create returned (``ProviderReceipt.links``),
        None when unknown (a job adopted by its webhook); a dialect that needs them falls back."""
        ...

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        """Ask the provider to stop the prediction, with its own cancel call. Raises CancelRefused when
        the provider will not (or the dialect has no cancel), ProviderError when the call fails."""
        ...


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


@dataclass(frozen=True)
class ObjectInfo:
    """An input object's user metadata (``x-amz-meta-*``, names lower-cased, prefix removed)."""

    content_type: str | None
    size_bytes: int
    metadata: Mapping[str, str]


class InputMedia(Protocol):
    """Input files given as s3://bucket/key. Raises DependencyUnavailable when S3 fails."""

    def exists(self, location: S3Location) -> bool: ...

    def describe(self, location: S3Location, *, etag: str | None) -> ObjectInfo | None:
        """The object's metadata; None when it is gone or no longer has ``etag`` (replaced since)."""
        ...

    def read(self, location: S3Location, *, etag: str | None, max_bytes: int) -> bytes | None:
        """The whole object, as ``describe``; raises RequestRejected("file", ...) over ``max_bytes``."""
        ...

    def presign(self, location: S3Location, *, expires_in_seconds: int) -> str: ...

    def presign_put(
        self, location: S3Location, *, content_type: str, size_bytes: int, expires_in_seconds: int
    ) -> str:
        """A URL that PUTs one object of exactly ``size_bytes`` sent as ``content_type``: both are
        signed into it, so a PUT with another Content-Length or Content-Type is refused. No call is made."""
        ...

    def open(self, location: S3Location, kind: MediaKind) -> AbstractContextManager[MediaFile]: ...


class StatusChecks(Protocol):
    def schedule(self, request: StatusCheckRequest, *, delay_seconds: int) -> None:
        """Deliver ``request`` to the status-check function in ``delay_seconds`` (at most 900)."""
        ...


class DispatchQueue(Protocol):
    def enqueue(self, request: DispatchRequest, *, delay_seconds: int = 0) -> None:
        """Deliver ``request`` to the submit function in ``delay_seconds`` (at most 900)."""
        ...


@dataclass(frozen=True)
class CapacityGrant:
    """A concurrency slot at one of the provider's API keys, held for ``job_id``."""

    key_id: str
    slot: str


@dataclass(frozen=True)
class CapacityWait:
    """No key has a free slot and a create left in its minute: look again in ``seconds``.
    ``for_a_slot``: some key had every slot taken, so a slot given back may be enough (the job waits
    in its provider's line); otherwise only time helps (creates per minute, or no key at all)."""

    seconds: float
    for_a_slot: bool = False


@dataclass(frozen=True)
class SlotWaiter:
    """A job in its provider's line for a slot, claimed to be woken by whoever claimed it."""

    job_id: str
    wait: SlotWait


@dataclass(frozen=True)
class CapacityUsage:
    """A provider's key pool as configured, and the slots its jobs hold now."""

    keys: int
    max_concurrent_per_key: int
    max_creates_per_minute_per_key: int
    slots_in_use: int


class ProviderCapacity(Protocol):
    """Each API key's limits: concurrent jobs and creates per minute."""

    def acquire(
        self, provider: ProviderName, job_id: str, *, now: datetime, skip_keys: frozenset[str] = frozenset()
    ) -> CapacityGrant | CapacityWait:
        """A slot and a create for ``job_id`` at a key not in ``skip_keys`` (benched); a slot it
        already holds is given back to it."""
        ...

    def release(self, slot: str, job_id: str) -> SlotWaiter | None:
        """Free ``slot`` if ``job_id`` still holds it, and hand it on: the oldest job in the line of the
        slot's provider, claimed for the caller to wake (`next_in_line`). None: nothing was freed (a
        second release changes nothing), or nobody waits."""
        ...

    def join_line(self, provider: ProviderName, job_id: str, *, since: datetime) -> None:
        """Put the job in ``provider``'s line for a slot, in the place of ``since`` (the moment it began
        to wait): again, if it is there already, unclaimed."""
        ...

    def in_line(self, provider: ProviderName, job_id: str, *, since: datetime) -> bool:
        """Whether the job's place of ``since`` is still in ``provider``'s line."""
        ...

    def leave_line(self, provider: ProviderName, job_id: str, *, since: datetime) -> None:
        """Take the job's place of ``since`` out of ``provider``'s line; leaving twice changes nothing."""
        ...

    def next_in_line(self, provider: ProviderName) -> SlotWaiter | None:
        """Claim the oldest job in ``provider``'s line that no one has claimed, so that no other caller
        wakes it too. The claim lasts until the job joins the line again or leaves it."""
        ...

    def usage(self, provider: ProviderName, *, now: datetime) -> CapacityUsage:
        """The provider's pool and the slots held at ``now`` (for GET /providers)."""
        ...


@dataclass(frozen=True)
class Admitted:
    """The provider's breaker lets a create through. ``benched_keys``: key ids not to use until their
    bench ends. ``probe``: this job holds the one create a half-open breaker lets through. ``clean``: the
    breaker is closed with no failure counted, so a success needs no write."""

    benched_keys: frozenset[str] = frozenset()
    probe: bool = False
    clean: bool = True


@dataclass(frozen=True)
class BreakerOpen:
    """The provider's breaker is open (or half-open with its one create out): look again in ``seconds``."""

    seconds: float


@dataclass(frozen=True)
class HealthReading:
    """A provider's breaker as stored, for GET /providers: ``open_until`` while open, and each benched
    key's end of bench."""

    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    open_until: datetime | None = None
    benched_until: Mapping[str, datetime] = field(default_factory=dict)


class ProviderHealth(Protocol):
    """A circuit breaker per provider and a bench per API key, shared by every function container.

    The breaker opens after a threshold of consecutive failed creates (no answer, or 5xx), stays open
    for a while, then lets one create through (half-open): its success closes the breaker, its failure
    opens it again. A key refused for its account (401, 402, 403) is benched for a while."""

    def admit(self, provider: ProviderName, job_id: str, *, now: datetime) -> Admitted | BreakerOpen:
        """Whether ``job_id`` may send a create now. Of many callers that find a breaker due for its
        probe, exactly one is admitted (``probe``); a caller that already holds the probe is again."""
        ...

    def record_failure(self, provider: ProviderName, *, now: datetime) -> bool:
        """Count a failed create. True only for the one call whose failure opened the breaker (from
        closed at the threshold, or from half-open)."""
        ...

    def record_success(self, provider: ProviderName) -> bool:
        """The provider answered: close the breaker and forget the failures. True only for the one call
        that closed an open or half-open breaker."""
        ...

    def bench_key(self, provider: ProviderName, key_id: str, *, until: datetime) -> None:
        """Keep ``key_id`` out of use until ``until``."""
        ...

    def reading(self, provider: ProviderName, *, now: datetime) -> HealthReading:
        """The breaker as it stands, with the keys still benched at ``now``."""
        ...


@dataclass(frozen=True)
class SpendCounter:
    """One spending ceiling's counter: ``key`` names it (``day#2026-12-07``), ``limit_micros`` is the
    ceiling in micro-dollars, None where no ceiling is set (the spend is still counted)."""

    key: str
    limit_micros: int | None


@dataclass(frozen=True)
class SpendReading:
    """A counter as read, in micro-dollars."""

    spent_micros: int = 0
    reserved_micros: int = 0


@dataclass(frozen=True)
class Reserved:
    """The job holds ``amount_micros`` on its counters; ``already``: an earlier delivery reserved it."""

    amount_micros: int
    already: bool = False


@dataclass(frozen=True)
class CeilingReached:
    """Nothing was reserved: ``counter`` would pass its ceiling, as it stood when ``reading`` was made."""

    counter: SpendCounter
    reading: SpendReading


class SpendingLedger(Protocol):
    """Spending ceilings as counters of micro-dollars (``spent`` and ``reserved``), and one reservation
    per job."""

    def reserve(
        self, job_id: str, amount_micros: int, counters: Sequence[SpendCounter]
    ) -> Reserved | CeilingReached:
        """Add ``amount_micros`` to every counter's reserved, all or nothing, only if each stays within
        its ceiling (spent + reserved + amount <= limit), and record what was reserved where under the
        job. A job that already has a reservation gets it back and nothing is added."""
        ...

    def settle(self, job_id: str) -> bool:
        """The job's reservation becomes spent on every counter it is on. False when there is none
        left to settle (none made, or settled or released already)."""
        ...

    def release(self, job_id: str) -> bool:
        """The job's reservation goes back to every counter it is on. False as for ``settle``."""
        ...

    def readings(self, keys: Sequence[str]) -> Mapping[str, SpendReading]:
        """Each counter as it stands (a counter nobody used reads as zeros)."""
        ...


class CallerNotifier(Protocol):
    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST to the caller; returns the HTTP status. Raises NotificationUndelivered on no answer."""
        ...


class NotificationRetries(Protocol):
    def schedule(self, message: Mapping[str, Any], *, delay_seconds: int) -> None:
        """Deliver ``message`` to the notify function again in ``delay_seconds`` (at most 900)."""
        ...


@dataclass(frozen=True)
class Lost:
    """A conditional write whose condition did not hold (a duplicate, late or out-of-order update): the
    job as the store had it then, or None when there is no such job. The caller does nothing more."""

    current: Job | None


@dataclass(frozen=True)
class JobsFound:
    """One page of a listing, newest first, and where the next one starts (None: no more)."""

    jobs: list[Job]
    next_position: dict[str, str] | None


class JobStore(Protocol):
    def create_if_absent(self, job: Job) -> Job | None:
        """Store ``job`` unless its id is taken; returns the job already stored under it, or None."""
        ...

    def get(self, job_id: str) -> Job | None: ...

    def transition(
        self,
        job_id: str,
        *,
        to: JobStatus,
        allowed_from: Iterable[JobStatus],
        changes: Mapping[str, Any] | None = None,
        expect: Mapping[str, Any] | None = None,
        now: datetime,
    ) -> Job | Lost:
        """Move the job to ``to`` if its status is one of ``allowed_from``, atomically.

        ``expect`` adds conditions: each field must hold that value (None: the field is unset).
        Returns the job after the write, or ``Lost`` with the job as it was when a condition did not
        hold (read with the same request, never by a second one).
        """
        ...

    def list_jobs(
        self, filters: JobListFilters, *, limit: int, start: Mapping[str, str] | None = None
    ) -> JobsFound:
        """Jobs that match ``filters``, newest first: at most ``limit``, and possibly fewer while more
        remain (``next_position`` then says where to go on). ``start``: a ``next_position`` this
        store gave for the same filters."""
        ...

    def record_transfer_error(
        self, job_id: str, message: str, *, code: str, now: datetime, left_open: Sequence[OpenUpload] = ()
    ) -> None:
        """The last transfer attempt's error, the code the job fails with if it stays the last, and the
        uploads it left open (added to the job's ``uploads_left_open``)."""
        ...

    def record_notification(self, job_id: str, notification: Notification, *, now: datetime) -> None: ...

    def claim_pending_event(self, job_id: str, detail_type: str, *, now: datetime, until: datetime) -> bool:
        """Take the right to publish the job's pending ``detail_type`` event until ``until``, if no one
        holds it (or their claim has run out). False when someone else publishes it."""
        ...

    def release_event_claim(self, job_id: str) -> None:
        """Publishing failed: let the next delivery try at once."""
        ...

    def clear_pending_event(self, job_id: str, detail_type: str) -> None:
        """The job's outcome event is out: forget it, unless another one is pending by now."""
        ...


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    key: str
    size_bytes: int


class VideoStore(Protocol):
    def upload_stream(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> StoredObject:
        """Store the chunks as one object. On any error nothing is left behind, not even parts (but
        see `discard_unfinished`)."""
        ...

    def discard_unfinished(self, uploads: Sequence[OpenUpload]) -> int:
        """Abort uploads earlier attempts left open (S3 refused their aborts too). Best effort, never
        raises; how many are gone now (aborted, or already gone)."""
        ...

    def presign_get(self, location: S3Location, *, expires_in_seconds: int) -> str:
        """A URL that GETs a stored object (the video or the last frame). No call is made."""
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

    def job_canceled(self, job: Job) -> None: ...

    def job_rejected(self, rejection: JobRejection) -> None: ...

    def provider_health_changed(self, change: ProviderHealthChange) -> None: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
