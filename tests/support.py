"""Helpers shared by every test layer: events/ loading, inspectable fakes, signing like the providers."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from tests.media_files import mp4_file, mp4_of_size
from videojobs.cursors import ListCursors
from videojobs.dependencies import (
    BudgetPolicy,
    Dependencies,
    DispatchPolicy,
    InputPolicy,
    IntakePolicy,
    NotifyPolicy,
    OutputPolicy,
    RoutingPolicy,
    StatusCheckPolicy,
    UploadPolicy,
)
from videojobs.download_policy import HostAllowlist
from videojobs.errors import DependencyUnavailable, TransferFailed
from videojobs.idempotency import IdempotencyGuard
from videojobs.models import (
    BreakerState,
    DispatchRequest,
    Job,
    JobListFilters,
    JobRejection,
    JobRequest,
    JobStatus,
    Notification,
    OpenUpload,
    ProviderHealthChange,
    ProviderReceipt,
    ProviderState,
    ProviderUpdate,
    S3Location,
    SlotWait,
    StatusCheckRequest,
    TransferRequest,
    WebhookTarget,
)
from videojobs.ports import (
    Admitted,
    BreakerOpen,
    CapacityGrant,
    CapacityUsage,
    CapacityWait,
    CeilingReached,
    Download,
    DownloadPolicy,
    HealthReading,
    JobsFound,
    Lost,
    MediaFile,
    ObjectInfo,
    Reserved,
    SlotWaiter,
    SpendCounter,
    SpendReading,
    StoredObject,
)
from videojobs.providers import UNITS
from videojobs.security import WebhookAuthenticator

#: The settings with no default: what a function needs in its environment to start.
REQUIRED_SETTINGS = {
    "JOBS_TABLE_NAME": "jobs",
    "VIDEOS_BUCKET_NAME": "videos",
    "EVENT_BUS_NAME": "bus",
    "TRANSFER_QUEUE_URL": "https://sqs.example.com/t",
    "STATUS_CHECK_QUEUE_URL": "https://sqs.example.com/s",
    "DISPATCH_QUEUE_URL": "https://sqs.example.com/d",
    "NOTIFY_QUEUE_URL": "https://sqs.example.com/n",
    "IDEMPOTENCY_TABLE_NAME": "idem",
    "PROVIDER_LIMITS_TABLE_NAME": "limits",
    "WEBHOOK_TOKEN_SECRET": "0123456789abcdef0123",
}
EVENTS_DIR = Path(__file__).resolve().parent.parent / "events"
TEST_SECRET = b"test-webhook-token-secret-0123456789"
#: A Standard Webhooks key (24 random bytes, base64) for caller notifications.
NOTIFY_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of events/<name>.json, the same file `sam local invoke -e` uses."""
    data: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return copy.deepcopy(data)


def sign_eachlabs(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"x-webhook-timestamp": stamp, "x-webhook-signature": f"sha256={digest}"}


class FixedClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class SteppedClock:
    """Real time plus the seconds a test has stepped it on: for code that checks real timestamps
    (webhook ages) and also counts intervals (a JWKS refetched at most once a second)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def _selected(job: Job, filters: JobListFilters) -> bool:
    """Whether ``filters`` keep ``job``: what DynamoDBJobStore's indexes and filter expressions select."""
    return (
        (filters.status is None or job.status == filters.status)
        and (filters.provider is None or job.provider == filters.provider)
        and (filters.client_reference is None or job.request.client_reference == filters.client_reference)
        and (filters.end_user_id is None or job.request.end_user_id == filters.end_user_id)
        and (filters.origin is None or job.origin.kind == filters.origin)
        and (filters.created_after is None or job.created_at > filters.created_after)
        and (filters.created_before is None or job.created_at < filters.created_before)
    )


class InMemoryJobStore:
    """Same contract as DynamoDBJobStore, conditional writes included."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def create_if_absent(self, job: Job) -> Job | None:
        with self._lock:
            if job.job_id in self.jobs:
                return self.jobs[job.job_id]
            self.jobs[job.job_id] = job
            self.writes += 1
            return None

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

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
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.status not in set(allowed_from):
                return Lost(job)
            data = job.model_dump()
            if any(data.get(field) != value for field, value in (expect or {}).items()):
                return Lost(job)
            data.update(changes or {})
            data.update(status=to, updated_at=now)
            self.jobs[job_id] = Job.model_validate(data)
            self.writes += 1
            return self.jobs[job_id]

    def list_jobs(
        self, filters: JobListFilters, *, limit: int, start: Mapping[str, str] | None = None
    ) -> JobsFound:
        """Newest first (ties by job id), every page full; a position names the last job given."""
        order = sorted(self.jobs.values(), key=lambda job: (job.created_at, job.job_id), reverse=True)
        matching = [job for job in order if _selected(job, filters)]
        if start is not None:
            ids = [job.job_id for job in matching]
            matching = matching[ids.index(start["job_id"]) + 1 :] if start["job_id"] in ids else []
        page = matching[:limit]
        more = len(matching) > limit
        return JobsFound(jobs=page, next_position={"job_id": page[-1].job_id} if more else None)

    def record_transfer_error(
        self, job_id: str, message: str, *, code: str, now: datetime, left_open: Sequence[OpenUpload] = ()
    ) -> None:
        with self._lock:
            job = self.jobs[job_id]
            self.jobs[job_id] = job.model_copy(
                update={
                    "transfer_error": message,
                    "transfer_error_code": code,
                    "updated_at": now,
                    "uploads_left_open": [*job.uploads_left_open, *left_open],
                }
            )
            self.writes += 1

    def record_notification(self, job_id: str, notification: Notification, *, now: datetime) -> None:
        with self._lock:
            job = self.jobs[job_id]
            self.jobs[job_id] = job.model_copy(update={"notification": notification, "updated_at": now})
            self.writes += 1

    def claim_pending_event(self, job_id: str, detail_type: str, *, now: datetime, until: datetime) -> bool:
        with self._lock:
            job = self.jobs[job_id]
            held = job.event_claimed_until is not None and job.event_claimed_until >= int(now.timestamp())
            if job.pending_event != detail_type or held:
                return False
            self.jobs[job_id] = job.model_copy(update={"event_claimed_until": int(until.timestamp())})
            return True

    def release_event_claim(self, job_id: str) -> None:
        with self._lock:
            self.jobs[job_id] = self.jobs[job_id].model_copy(update={"event_claimed_until": None})

    def clear_pending_event(self, job_id: str, detail_type: str) -> None:
        with self._lock:
            job = self.jobs[job_id]
            if job.pending_event == detail_type:
                self.jobs[job_id] = job.model_copy(
                    update={"pending_event": None, "event_claimed_until": None}
                )
                self.writes += 1


class InMemoryVideoStore:
    def __init__(self, bucket: str = "videos") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.aborted: list[str] = []
        #: What discard_unfinished was asked to abort, in order.
        self.discarded: list[OpenUpload] = []
        #: Set: the next failed upload_stream leaves its upload open under this id (its abort failed).
        self.leave_open_next: str | None = None
        #: What presign_get signed: (location, expires_in_seconds).
        self.presigned: list[tuple[S3Location, int]] = []

    def upload_stream(self, key: str, chunks: Iterable[bytes], *, content_type: str) -> StoredObject:
        buffer = bytearray()
        try:
            for chunk in chunks:
                buffer += chunk
        except TransferFailed as failure:
            if self.leave_open_next is not None:
                failure.left_open = ((key, self.leave_open_next),)
                self.leave_open_next = None
            else:
                self.aborted.append(key)
            raise
        except BaseException:
            self.aborted.append(key)
            raise
        self.objects[key] = bytes(buffer)
        self.content_types[key] = content_type
        return StoredObject(bucket=self.bucket, key=key, size_bytes=len(buffer))

    def discard_unfinished(self, uploads: Sequence[OpenUpload]) -> int:
        self.discarded.extend(uploads)
        return len(uploads)

    def presign_get(self, location: S3Location, *, expires_in_seconds: int) -> str:
        self.presigned.append((location, expires_in_seconds))
        return f"https://{location.bucket}.s3.example.com/{location.key}?expires={expires_in_seconds}"


@dataclass
class FakeVideoSource:
    """Serves bytes per URL; ``cut_next`` makes the next N downloads stop halfway."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_next: int = 0
    opened: list[str] = field(default_factory=list)

    @contextmanager
    def open(self, url: str, policy: DownloadPolicy) -> Iterator[Download]:
        policy.check(url)
        self.opened.append(url)
        data = self.files[url]
        cut = self.cut_next > 0
        self.cut_next -= 1 if cut else 0

        def chunks() -> Iterator[bytes]:
            half = len(data) // 2
            yield data[:half]
            if cut:
                raise TransferFailed("connection reset")
            yield data[half:]

        yield Download(content_type="video/mp4", content_length=len(data), chunks=chunks())


@dataclass
class RecordingQueue:
    sent: list[TransferRequest] = field(default_factory=list)
    fail_next: int = 0

    def enqueue(self, request: TransferRequest) -> None:
        from videojobs.errors import DependencyUnavailable

        if self.fail_next:
            self.fail_next -= 1
            raise DependencyUnavailable("queue down")
        self.sent.append(request)


@dataclass
class RecordingEvents:
    """Records what was published; ``fail_next`` makes the next N publications fail as the bus would."""

    succeeded: list[Job] = field(default_factory=list)
    failed: list[Job] = field(default_factory=list)
    canceled: list[Job] = field(default_factory=list)
    rejected: list[JobRejection] = field(default_factory=list)
    health_changes: list[ProviderHealthChange] = field(default_factory=list)
    fail_next: int = 0

    def _refuse(self) -> None:
        from videojobs.errors import DependencyUnavailable

        if self.fail_next:
            self.fail_next -= 1
            raise DependencyUnavailable("EventBridge refused Video Job ...: ['InternalFailure']")

    def job_succeeded(self, job: Job) -> None:
        self._refuse()
        self.succeeded.append(job)

    def job_failed(self, job: Job) -> None:
        self._refuse()
        self.failed.append(job)

    def job_canceled(self, job: Job) -> None:
        self._refuse()
        self.canceled.append(job)

    def job_rejected(self, rejection: JobRejection) -> None:
        self.rejected.append(rejection)

    def provider_health_changed(self, change: ProviderHealthChange) -> None:
        self._refuse()
        self.health_changes.append(change)


@dataclass
class QueuedDispatch:
    request: DispatchRequest
    delay_seconds: int


@dataclass
class RecordingDispatches:
    sent: list[QueuedDispatch] = field(default_factory=list)
    fail_next: int = 0

    def enqueue(self, request: DispatchRequest, *, delay_seconds: int = 0) -> None:
        from videojobs.errors import DependencyUnavailable

        if self.fail_next:
            self.fail_next -= 1
            raise DependencyUnavailable("dispatch queue down")
        self.sent.append(QueuedDispatch(request, delay_seconds))

    def take(self) -> list[QueuedDispatch]:
        taken, self.sent = self.sent, []
        return taken


@dataclass
class InMemoryCapacity:
    """ProviderCapacity with ``limit`` slots per provider at one key, ``key_id``; records every grant,
    every release and every call to release (``release_calls``, those that free nothing too)."""

    limit: int = 10
    holders: dict[str, str] = field(default_factory=dict)
    released: list[tuple[str, str]] = field(default_factory=list)
    release_calls: list[tuple[str, str]] = field(default_factory=list)
    wait_seconds: float = 5.0
    key_id: str = "key-1"
    #: Further keys, tried after ``key_id`` (every provider has them).
    more_keys: tuple[str, ...] = ()
    #: The benched keys each acquire was told to skip.
    skipped: list[frozenset[str]] = field(default_factory=list)

    #: Every key's creates for the minute are spent: acquire answers a wait that a slot would not end.
    short_of_creates: bool = False
    #: Each provider's line: (since, job id) -> claimed, and every place ever claimed, in order.
    lines: dict[str, dict[tuple[datetime, str], bool]] = field(default_factory=dict)
    claims: list[SlotWaiter] = field(default_factory=list)

    def acquire(
        self, provider: Any, job_id: str, *, now: datetime, skip_keys: frozenset[str] = frozenset()
    ) -> CapacityGrant | CapacityWait:
        self.skipped.append(skip_keys)
        if self.short_of_creates:
            return CapacityWait(seconds=self.wait_seconds)
        for slot, holder in self.holders.items():
            if holder == job_id:
                return CapacityGrant(key_id=slot.split("#")[1], slot=slot)
        for key_id in (key for key in (self.key_id, *self.more_keys) if key not in skip_keys):
            for index in range(self.limit):
                slot = f"{provider}#{key_id}#slot#{index:03d}"
                if slot not in self.holders:
                    self.holders[slot] = job_id
                    return CapacityGrant(key_id=key_id, slot=slot)
        return CapacityWait(seconds=self.wait_seconds, for_a_slot=True)

    def usage(self, provider: Any, *, now: datetime) -> CapacityUsage:
        held = sum(1 for slot in self.holders if slot.startswith(f"{provider}#"))
        return CapacityUsage(
            keys=1, max_concurrent_per_key=self.limit, max_creates_per_minute_per_key=60, slots_in_use=held
        )

    def release(self, slot: str, job_id: str) -> SlotWaiter | None:
        self.release_calls.append((slot, job_id))
        if self.holders.get(slot) != job_id:
            return None
        del self.holders[slot]
        self.released.append((slot, job_id))
        return self.next_in_line(slot.partition("#")[0])  # type: ignore[arg-type]

    def join_line(self, provider: Any, job_id: str, *, since: datetime) -> None:
        self.lines.setdefault(provider, {})[(since, job_id)] = False

    def in_line(self, provider: Any, job_id: str, *, since: datetime) -> bool:
        return (since, job_id) in self.lines.get(provider, {})

    def leave_line(self, provider: Any, job_id: str, *, since: datetime) -> None:
        self.lines.get(provider, {}).pop((since, job_id), None)

    def next_in_line(self, provider: Any) -> SlotWaiter | None:
        line = self.lines.get(provider, {})
        for since, job_id in sorted(place for place, claimed in line.items() if not claimed):
            line[(since, job_id)] = True
            waiter = SlotWaiter(job_id=job_id, wait=SlotWait(provider=provider, since=since, woken=True))
            self.claims.append(waiter)
            return waiter
        return None

    def waiting(self, provider: str = "eachlabs") -> list[str]:
        """The job ids in ``provider``'s line, oldest first."""
        return [job_id for _, job_id in sorted(self.lines.get(provider, {}))]


@dataclass
class InMemorySpendingLedger:
    """SpendingLedger in memory: ``counters`` (key -> [spent, reserved] micro-dollars) and
    ``reservations`` (job id -> (amount, counter keys, state)) to inspect; ``down`` makes it refuse."""

    counters: dict[str, list[int]] = field(default_factory=dict)
    reservations: dict[str, tuple[int, tuple[str, ...], str]] = field(default_factory=dict)
    down: bool = False

    def reserve(
        self, job_id: str, amount_micros: int, counters: Sequence[SpendCounter]
    ) -> Reserved | CeilingReached:
        self._refuse_if_down()
        if job_id in self.reservations:
            return Reserved(self.reservations[job_id][0], already=True)
        for counter in counters:
            spent, reserved = self.counters.get(counter.key, [0, 0])
            if counter.limit_micros is not None and spent + reserved + amount_micros > counter.limit_micros:
                return CeilingReached(counter, SpendReading(spent, reserved))
        for counter in counters:
            self.counters.setdefault(counter.key, [0, 0])[1] += amount_micros
        self.reservations[job_id] = (amount_micros, tuple(counter.key for counter in counters), "reserved")
        return Reserved(amount_micros)

    def settle(self, job_id: str) -> bool:
        return self._close(job_id, "spent")

    def release(self, job_id: str) -> bool:
        return self._close(job_id, "released")

    def _close(self, job_id: str, state: str) -> bool:
        self._refuse_if_down()
        held = self.reservations.get(job_id)
        if held is None or held[2] != "reserved":
            return False
        amount, keys, _ = held
        for key in keys:
            counter = self.counters[key]
            counter[1] -= amount
            if state == "spent":
                counter[0] += amount
        self.reservations[job_id] = (amount, keys, state)
        return True

    def readings(self, keys: Sequence[str]) -> Mapping[str, SpendReading]:
        self._refuse_if_down()
        return {key: SpendReading(*self.counters.get(key, [0, 0])) for key in keys}

    def state_of(self, job_id: str) -> str | None:
        held = self.reservations.get(job_id)
        return held[2] if held else None

    def _refuse_if_down(self) -> None:
        if self.down:
            raise DependencyUnavailable("budget ledger down")


@dataclass
class InMemoryProviderHealth:
    """ProviderHealth in memory, with DynamoDBProviderHealth's rules: ``threshold`` consecutive failures
    open a provider's breaker for ``open_seconds``, then one job at a time holds the probe for
    ``probe_lease_seconds``. Inspect ``opened`` and ``closed`` (a provider each time its breaker opened or
    closed), ``failures``, ``states``, ``probes`` (provider -> (job id, lease end)) and ``benched``
    ((provider, key id) -> end of bench); ``down`` makes it refuse."""

    threshold: int = 3
    open_seconds: float = 30.0
    probe_lease_seconds: float = 300.0
    failures: dict[str, int] = field(default_factory=dict)
    states: dict[str, BreakerState] = field(default_factory=dict)
    open_until: dict[str, datetime] = field(default_factory=dict)
    probes: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    benched: dict[tuple[str, str], datetime] = field(default_factory=dict)
    opened: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    down: bool = False

    def admit(self, provider: Any, job_id: str, *, now: datetime) -> Admitted | BreakerOpen:
        self._refuse_if_down()
        benched = frozenset(self._benched_at(provider, now))
        state = self.states.get(provider, BreakerState.CLOSED)
        if state is BreakerState.CLOSED:
            return Admitted(benched_keys=benched, clean=self.failures.get(provider, 0) == 0)
        if state is BreakerState.OPEN and now < self.open_until[provider]:
            return BreakerOpen(seconds=(self.open_until[provider] - now).total_seconds())
        if state is BreakerState.HALF_OPEN:
            holder, lease_until = self.probes[provider]
            if holder == job_id:
                return Admitted(benched_keys=benched, probe=True, clean=False)
            if lease_until >= now:
                return BreakerOpen(seconds=1.0)
        self.states[provider] = BreakerState.HALF_OPEN
        self.open_until.pop(provider, None)
        self.probes[provider] = (job_id, now + timedelta(seconds=self.probe_lease_seconds))
        return Admitted(benched_keys=benched, probe=True, clean=False)

    def record_failure(self, provider: Any, *, now: datetime) -> bool:
        self._refuse_if_down()
        self.failures[provider] = self.failures.get(provider, 0) + 1
        state = self.states.get(provider, BreakerState.CLOSED)
        if state is BreakerState.HALF_OPEN or (
            state is BreakerState.CLOSED and self.failures[provider] >= self.threshold
        ):
            self.states[provider] = BreakerState.OPEN
            self.open_until[provider] = now + timedelta(seconds=self.open_seconds)
            self.probes.pop(provider, None)
            self.opened.append(provider)
            return True
        return False

    def record_success(self, provider: Any) -> bool:
        self._refuse_if_down()
        state = self.states.get(provider, BreakerState.CLOSED)
        self.failures[provider] = 0
        self.states[provider] = BreakerState.CLOSED
        self.open_until.pop(provider, None)
        self.probes.pop(provider, None)
        if state is BreakerState.CLOSED:
            return False
        self.closed.append(provider)
        return True

    def bench_key(self, provider: Any, key_id: str, *, until: datetime) -> None:
        self._refuse_if_down()
        self.benched[(provider, key_id)] = until

    def reading(self, provider: Any, *, now: datetime) -> HealthReading:
        self._refuse_if_down()
        state = self.states.get(provider, BreakerState.CLOSED)
        return HealthReading(
            state=state,
            consecutive_failures=self.failures.get(provider, 0),
            open_until=self.open_until.get(provider) if state is BreakerState.OPEN else None,
            benched_until=self._benched_at(provider, now),
        )

    def _benched_at(self, provider: Any, now: datetime) -> dict[str, datetime]:
        return {
            key_id: until
            for (name, key_id), until in self.benched.items()
            if name == provider and until > now
        }

    def _refuse_if_down(self) -> None:
        if self.down:
            raise DependencyUnavailable("provider health down")


@dataclass
class PostedNotification:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class RecordingNotifier:
    """Answers each POST with the next of ``answers`` (the last repeats); an exception is raised."""

    answers: list[int | Exception] = field(default_factory=lambda: [204])
    posted: list[PostedNotification] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.posted.append(PostedNotification(url, body, dict(headers)))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class ScheduledRetry:
    message: dict[str, Any]
    delay_seconds: int


@dataclass
class RecordingRetries:
    scheduled: list[ScheduledRetry] = field(default_factory=list)

    def schedule(self, message: Mapping[str, Any], *, delay_seconds: int) -> None:
        self.scheduled.append(ScheduledRetry(dict(message), delay_seconds))


@dataclass
class FakeProvider:
    """A provider whose webhook body is our ProviderUpdate as JSON; records every call it gets.

    ``answers`` are what successive status checks see (the last one repeats); by default the
    prediction is still processing.
    """

    name: Any = "eachlabs"
    created: list[tuple[JobRequest, WebhookTarget]] = field(default_factory=list)
    error: Exception | None = None
    answers: list[ProviderUpdate | Exception] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    uploads: list[tuple[MediaFile, bytes]] = field(default_factory=list)
    #: Returned with every receipt, as fal returns its queue URLs.
    links: dict[str, str] = field(default_factory=dict)
    checked_links: list[Mapping[str, str] | None] = field(default_factory=list)
    cancelled: list[tuple[str, Mapping[str, str] | None]] = field(default_factory=list)
    #: Raised by each cancel call (after it is recorded), when set.
    cancel_error: Exception | None = None

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        if self.error is not None:
            raise self.error
        self.created.append((request, webhook))
        return ProviderReceipt(provider_job_id=f"pred-{len(self.created)}", links=self.links)

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        self.cancelled.append((provider_job_id, links))
        if self.cancel_error is not None:
            raise self.cancel_error

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        return ProviderUpdate.model_validate_json(body)

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        self.checked.append(provider_job_id)
        self.checked_links.append(links)
        if not self.answers:
            return ProviderUpdate(provider_job_id=provider_job_id, state=ProviderState.PROCESSING)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer.model_copy(update={"provider_job_id": provider_job_id})

    def upload_media(self, media: MediaFile) -> str:
        data = b"".join(media.chunks)
        self.uploads.append((media, data))
        return f"https://uploads.example.com/{len(self.uploads)}/{media.filename}"


@dataclass
class ScheduledCheck:
    request: StatusCheckRequest
    delay_seconds: int


@dataclass
class RecordingStatusChecks:
    scheduled: list[ScheduledCheck] = field(default_factory=list)
    fail_next: int = 0

    def schedule(self, request: StatusCheckRequest, *, delay_seconds: int) -> None:
        from videojobs.errors import DependencyUnavailable

        if self.fail_next:
            self.fail_next -= 1
            raise DependencyUnavailable("status-check queue down")
        self.scheduled.append(ScheduledCheck(request, delay_seconds))


@dataclass(frozen=True)
class PresignedPut:
    """What InMemoryInputs.presign_put was asked to sign."""

    location: S3Location
    content_type: str
    size_bytes: int
    expires_in_seconds: int


@dataclass
class InMemoryInputs:
    """InputMedia over a dict of s3://bucket/key -> (content type, bytes)."""

    objects: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    presigned: list[str] = field(default_factory=list)
    presigned_puts: list[PresignedPut] = field(default_factory=list)

    metadata: dict[str, dict[str, str]] = field(default_factory=dict)

    def exists(self, location: S3Location) -> bool:
        return f"s3://{location.bucket}/{location.key}" in self.objects

    def describe(self, location: S3Location, *, etag: str | None) -> ObjectInfo | None:
        url = f"s3://{location.bucket}/{location.key}"
        if url not in self.objects:
            return None
        content_type, data = self.objects[url]
        metadata = self.metadata.get(url, {})
        return ObjectInfo(content_type=content_type, size_bytes=len(data), metadata=metadata)

    def read(self, location: S3Location, *, etag: str | None, max_bytes: int) -> bytes | None:
        from videojobs.errors import RequestRejected

        found = self.objects.get(f"s3://{location.bucket}/{location.key}")
        if found is None:
            return None
        if len(found[1]) > max_bytes:
            raise RequestRejected("file", f"is {len(found[1])} bytes; at most {max_bytes}")
        return found[1]

    def presign(self, location: S3Location, *, expires_in_seconds: int) -> str:
        url = f"https://{location.bucket}.s3.example.com/{location.key}?expires={expires_in_seconds}"
        self.presigned.append(url)
        return url

    def presign_put(
        self, location: S3Location, *, content_type: str, size_bytes: int, expires_in_seconds: int
    ) -> str:
        self.presigned_puts.append(PresignedPut(location, content_type, size_bytes, expires_in_seconds))
        return f"https://{location.bucket}.s3.example.com/{location.key}?put&expires={expires_in_seconds}"

    @contextmanager
    def open(self, location: S3Location, kind: Any) -> Iterator[MediaFile]:
        content_type, data = self.objects[f"s3://{location.bucket}/{location.key}"]
        name = location.key.rsplit("/", 1)[-1]
        yield MediaFile(
            filename=name, content_type=content_type, kind=kind, size_bytes=len(data), chunks=[data]
        )


class FakeLambdaContext:
    function_name = "test"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


class InMemoryIdempotencyStore(BasePersistenceLayer):
    """Powertools' persistence contract in a dict: put fails while an unexpired record exists."""

    def __init__(self) -> None:
        super().__init__()
        self.records: dict[str, DataRecord] = {}
        self._lock = threading.Lock()

    def _get_record(self, idempotency_key: str) -> DataRecord:
        with self._lock:
            if idempotency_key not in self.records:
                raise IdempotencyItemNotFoundError
            return self.records[idempotency_key]

    def _put_record(self, data_record: DataRecord) -> None:
        with self._lock:
            existing = self.records.get(data_record.idempotency_key)
            if existing is not None and not existing.is_expired:
                # As DynamoDBPersistenceLayer does: a different payload is refused here.
                self._validate_payload(data_payload=data_record, stored_data_record=existing)
                raise IdempotencyItemAlreadyExistsError(old_data_record=existing)
            self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        with self._lock:
            self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        with self._lock:
            self.records.pop(data_record.idempotency_key, None)


@dataclass
class FakeWorld:
    """Every fake port at once, for unit and functional tests to arrange and inspect."""

    jobs: InMemoryJobStore = field(default_factory=InMemoryJobStore)
    videos: InMemoryVideoStore = field(default_factory=InMemoryVideoStore)
    source: FakeVideoSource = field(default_factory=FakeVideoSource)
    transfers: RecordingQueue = field(default_factory=RecordingQueue)
    status_checks: RecordingStatusChecks = field(default_factory=RecordingStatusChecks)
    inputs: InMemoryInputs = field(default_factory=InMemoryInputs)
    events: RecordingEvents = field(default_factory=RecordingEvents)
    providers: dict[str, FakeProvider] = field(
        default_factory=lambda: {name: FakeProvider(name=name) for name in UNITS}
    )
    #: More API keys in a provider's pool, after "key-1" (``providers``): key id -> its own fake.
    more_keys: dict[str, dict[str, FakeProvider]] = field(default_factory=dict)
    clock: FixedClock = field(default_factory=FixedClock)
    authenticator: WebhookAuthenticator = field(
        default_factory=lambda: WebhookAuthenticator(TEST_SECRET, lifetime=timedelta(hours=26))
    )
    list_cursors: ListCursors = field(default_factory=lambda: ListCursors(TEST_SECRET))
    idempotency_store: InMemoryIdempotencyStore = field(default_factory=InMemoryIdempotencyStore)
    check_policy: StatusCheckPolicy = field(
        default_factory=lambda: StatusCheckPolicy(
            first_delay_seconds=120, max_delay_seconds=600, job_max_age_seconds=7200
        )
    )
    dispatches: RecordingDispatches = field(default_factory=RecordingDispatches)
    capacity: InMemoryCapacity = field(default_factory=InMemoryCapacity)
    budget: InMemorySpendingLedger = field(default_factory=InMemorySpendingLedger)
    budget_policy: BudgetPolicy = field(default_factory=BudgetPolicy)
    #: A breaker that opens only when a test lowers its threshold.
    health: InMemoryProviderHealth = field(default_factory=lambda: InMemoryProviderHealth(threshold=100))
    routing_policy: RoutingPolicy = field(default_factory=lambda: RoutingPolicy(order=tuple(UNITS)))
    output_policy: OutputPolicy = field(default_factory=OutputPolicy)
    upload_policy: UploadPolicy = field(default_factory=lambda: UploadPolicy(bucket="inputs"))
    dispatch_policy: DispatchPolicy = field(
        default_factory=lambda: DispatchPolicy(
            max_attempts=4,
            backoff_base_seconds=5,
            backoff_max_seconds=300,
            uncertain_grace_seconds=600,
            capacity_retry_seconds=10,
        )
    )
    intake_policy: IntakePolicy = field(
        default_factory=lambda: IntakePolicy(
            drop_default_provider="eachlabs",
            drop_default_prompt=None,
            max_drop_bytes=64 * 1024,
            allow_loopback_urls=False,
            max_request_bytes=256 * 1024,
        )
    )
    notifier: RecordingNotifier = field(default_factory=RecordingNotifier)
    notification_retries: RecordingRetries = field(default_factory=RecordingRetries)
    notify_delays: tuple[int, ...] = (5, 300, 1800)
    notify_secret: str | None = NOTIFY_SECRET
    public_base_url: str | None = "https://api.example.com"
    input_buckets: frozenset[str] = frozenset({"inputs"})

    @property
    def provider(self) -> FakeProvider:
        return self.providers["eachlabs"]

    @provider.setter
    def provider(self, provider: Any) -> None:
        self.providers["eachlabs"] = provider

    def add_key(self, provider: str, key_id: str) -> FakeProvider:
        """A further API key in ``provider``'s pool, with a fake of its own: the one built for that key."""
        fake = FakeProvider(name=provider)
        self.more_keys.setdefault(provider, {})[key_id] = fake
        return fake

    def deps(self) -> Dependencies:
        idempotency = IdempotencyGuard.create(self.idempotency_store, expires_after_seconds=3600)
        idempotency.config.register_lambda_context(FakeLambdaContext())
        policies: dict[Any, DownloadPolicy] = {name: HostAllowlist(["cdn.example.com"]) for name in UNITS}
        return Dependencies(
            jobs=self.jobs,
            videos=self.videos,
            source=self.source,
            transfers=self.transfers,
            status_checks=self.status_checks,
            inputs=self.inputs,
            events=self.events,
            providers={  # type: ignore[misc]
                name: {"key-1": fake, **self.more_keys.get(name, {})} for name, fake in self.providers.items()
            },
            download_policies=policies,
            authenticator=self.authenticator,
            list_cursors=self.list_cursors,
            idempotency=idempotency,
            clock=self.clock,
            job_retention=timedelta(days=30),
            public_base_url=self.public_base_url,
            status_check_policy=self.check_policy,
            input_policy=InputPolicy(buckets=self.input_buckets, url_expiry_seconds=3600),
            dispatches=self.dispatches,
            capacity=self.capacity,
            dispatch_policy=self.dispatch_policy,
            intake_policy=self.intake_policy,
            notifier=self.notifier,
            notification_retries=self.notification_retries,
            notify_policy=NotifyPolicy(retry_delays_seconds=self.notify_delays),
            notify_signing_secret=self.notify_secret,
            max_webhook_bytes=1024 * 1024,
            budget=self.budget,
            budget_policy=self.budget_policy,
            health=self.health,
            routing_policy=self.routing_policy,
            output_policy=self.output_policy,
            upload_policy=self.upload_policy,
        )

    def dispatch_all(self) -> list[Any]:
        """Run the submit function's logic on every queued dispatch message, as SQS would."""
        from videojobs.logic.dispatch import dispatch_job

        return [dispatch_job(queued.request, self.deps()) for queued in self.dispatches.take()]


def assert_valid_event(event: Mapping[str, Any]) -> None:
    """An event of the pipeline's, as EventBridge delivers it, against its published schema."""
    from jsonschema import Draft4Validator

    from local.event_schemas import schema_path

    schema = json.loads(schema_path(event["detail-type"]).read_text())
    errors = [f"{list(error.path)}: {error.message}" for error in Draft4Validator(schema).iter_errors(event)]
    assert errors == [], f"{event['detail-type']} does not match its schema: {errors}"


def status_words(
    *, running: Iterable[str], done: Iterable[str], failed: Iterable[str]
) -> list[tuple[str, ProviderState]]:
    """(word, what it must mean) cases for a dialect's status-word tests."""
    return (
        [(word, ProviderState.PROCESSING) for word in running]
        + [(word, ProviderState.SUCCEEDED) for word in done]
        + [(word, ProviderState.FAILED) for word in failed]
    )


def submit_job(request: JobRequest, deps: Dependencies) -> Job:
    """POST /jobs's intake, then the submit function on the queued job, as SQS would deliver it."""
    from videojobs.logic.dispatch import dispatch_job
    from videojobs.logic.intake import accept_job
    from videojobs.models import HttpOrigin

    job = accept_job(request, HttpOrigin(), deps).job
    dispatches = deps.dispatches
    assert isinstance(dispatches, RecordingDispatches)
    for queued in dispatches.take():
        dispatch_job(queued.request, deps)
    stored = deps.jobs.get(job.job_id)
    assert stored is not None
    return stored


#: Below this, `fake_mp4` is the start of a whole one: enough for byte-level checks only.
SMALLEST_FAKE_MP4 = len(mp4_file(payload_size=1024))


def fake_mp4(size: int = 4096) -> bytes:
    """A whole MP4 of ``size`` bytes as the transfer reads it (1280x720, 5 s, with audio: what a default
    request asks for), its media data filler."""
    whole = mp4_of_size(max(size, SMALLEST_FAKE_MP4))
    return whole if len(whole) == size else whole[:size]


def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""
