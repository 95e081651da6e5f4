"""What a provider dialect is written against: the request and job types, the `Dialect` base class and the
`Host` it talks to.

A dialect module imports this module (and `fields`, `media`, `signing`, `faults` if it must), never the
backend, the server or the dialect registry: the backend implements `Host` structurally and hands itself
to each dialect it mounts.

Job records use the simulator's own status words (`JobStatus`): ``queued`` (only when jobs are held, see
`SimulatorBackend`), ``processing``, then one of ``succeeded``, ``failed``, ``cancelled``; each dialect
translates them into its wire vocabulary.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Protocol, TypedDict

from local.simulator.media import ClipSpec
from local.simulator.signing import Ed25519KeyRing

type JSONValue = None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]
type JSONObject = dict[str, JSONValue]


class LoggedRequest(TypedDict):
    provider: str | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: JSONValue
    status: int
    #: When it was answered (time.time()).
    answered_at: float


class JobStatus(StrEnum):
    """The simulator's status words. A job starts ``queued`` only while jobs are held in the queue (the
    ``hold_in_queue`` fault, ``queue_seconds``); otherwise it starts ``processing``, as it always did. It
    ends ``succeeded``, ``failed`` or ``cancelled`` (`Host.cancel`) and never moves again."""

    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Terminal: succeeded, failed or cancelled."""
        return self not in (JobStatus.QUEUED, JobStatus.PROCESSING)


class CancelOutcome(StrEnum):
    """What `Host.cancel` did; each dialect turns it into its own answer (and its own rule about which
    jobs may be cancelled, through ``allow_running``)."""

    CANCELLED = "cancelled"
    """The job was queued (or processing, when running jobs may be cancelled) and now is ``cancelled``."""
    ALREADY_FINISHED = "already_finished"
    """The job had already succeeded, failed or been cancelled; nothing changed."""
    NOT_FOUND = "not_found"
    """No such job (for that provider)."""
    RUNNING = "running"
    """The job is processing and running jobs may not be cancelled; nothing changed."""


class WebhookState(StrEnum):
    NONE = "none"
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    GAVE_UP = "gave_up"
    DROPPED = "dropped"


class Rejection(Exception):
    """A request a dialect refuses; `Dialect.handle` turns it into that provider's error body.

    `headers` are added to that error response (e.g. ``Retry-After``)."""

    def __init__(
        self, status: int, message: str, details: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details
        self.headers: Mapping[str, str] = dict(headers or {})


def invalid(field_path: str, problem: str, details: str = "") -> Rejection:
    """A 400 whose message names the offending field: ``Invalid request: 'input.duration' must be ...``."""
    return Rejection(400, f"Invalid request: '{field_path}' {problem}", details)


def json_object_body(request: SimRequest) -> JSONObject:
    """The request's JSON object body; 400 when the body is not JSON or not an object."""
    if not request.json_valid:
        raise Rejection(400, "Invalid request: body is not valid JSON", "Send a JSON object")
    if not isinstance(request.json, dict):
        raise Rejection(
            400, "Invalid request: body must be a JSON object", f"Got {type(request.json).__name__}"
        )
    return request.json


@dataclass
class RequestContext:
    """What the shared dialect helpers learn while answering one request.

    `api_key`: the key the request authenticated with (set by `Dialect.accept_key`). `disconnect`: the
    ``ambiguous_creates`` fault took this create: answer by closing the connection, writing nothing.
    """

    api_key: str | None = None
    disconnect: bool = False


@dataclass(frozen=True)
class SimRequest:
    """One request as a dialect sees it; `path` is relative to the provider prefix."""

    method: str
    path: str
    full_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    json: JSONValue
    json_valid: bool
    context: RequestContext = field(default_factory=RequestContext, compare=False)


@dataclass(frozen=True)
class SimResponse:
    """An answer. `disconnect`: close the connection without writing any of it (the status is still
    what the request log records)."""

    status: int
    body: JSONValue
    headers: Mapping[str, str] = field(default_factory=dict)
    disconnect: bool = False


@dataclass(frozen=True)
class OutgoingWebhook:
    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class MediaFetch:
    """One media input the simulator fetched over loopback at create time."""

    field: str
    url: str
    status_code: int
    size: int

    def to_json(self) -> JSONObject:
        return {"field": self.field, "url": self.url, "status_code": self.status_code, "size": self.size}


@dataclass(frozen=True)
class JobPlan:
    """What a dialect's validation made of a create call; `Dialect.start_job` turns it into a job.

    `media`: (field path, URL) of every media input, for `Host.check_media`. `last_frame`: also
    produce the clip's last frame as a PNG. `meta`: wire-level facts the dialect wants back with the job.
    """

    clip: ClipSpec
    webhook_url: str | None = None
    media: Sequence[tuple[str, str]] = ()
    last_frame: bool = False
    meta: JSONObject = field(default_factory=dict)


@dataclass(frozen=True)
class StoredUpload:
    id: str
    provider: str
    filename: str
    content_type: str
    size: int
    sha256: str
    url: str
    path: Path
    created_at: float

    def to_json(self) -> JSONObject:
        return {
            "id": self.id,
            "provider": self.provider,
            "filename": self.filename,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "url": self.url,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class DeliveryAttempt:
    copy: int
    attempt: int
    url: str
    status_code: int | None
    error: str | None
    sent_at: float
    #: How long the receiver took to answer (or to fail), in seconds.
    duration: float = 0.0

    def to_json(self) -> JSONObject:
        return {
            "copy": self.copy,
            "attempt": self.attempt,
            "url": self.url,
            "status_code": self.status_code,
            "error": self.error,
            "sent_at": self.sent_at,
            "duration_seconds": self.duration,
        }


@dataclass(frozen=True)
class StatusWebhook:
    """One status-change notification (`Dialect.webhook_on_change`) and how its delivery went."""

    status: JobStatus
    url: str
    body: str
    delivered: bool
    attempts: tuple[DeliveryAttempt, ...]

    def to_json(self) -> JSONObject:
        return {
            "status": self.status.value,
            "url": self.url,
            "body": self.body,
            "delivered": self.delivered,
            "attempts": [attempt.to_json() for attempt in self.attempts],
        }


@dataclass
class SimulatedJob:
    """The simulator's record of one job. Handed-out records are copies: editing one changes nothing."""

    id: str
    provider: str
    request: JSONObject
    clip: ClipSpec
    webhook_url: str | None
    processing_seconds: float
    fail_planned: bool
    drop_webhook: bool
    stall_planned: bool = False
    api_key: str | None = None
    ambiguous_create: bool = False
    last_frame_requested: bool = False
    meta: JSONObject = field(default_factory=dict)
    media_fetches: list[MediaFetch] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    status: JobStatus = JobStatus.PROCESSING
    #: Seconds the job is held ``queued`` before it starts (``queue_seconds`` when it was created).
    queue_seconds: float = 0.0
    #: When it left the queue and started processing (its creation, unless it was queued).
    started_at: float | None = None
    completed_at: float | None = None
    output_url: str | None = None
    output_path: Path | None = None
    output_sha256: str | None = None
    output_size: int | None = None
    last_frame_url: str | None = None
    last_frame_path: Path | None = None
    last_frame_size: int | None = None
    error: str | None = None
    webhook_state: WebhookState = WebhookState.NONE
    webhook_body: str | None = None
    webhook_headers: dict[str, str] = field(default_factory=dict)
    webhook_attempts: list[DeliveryAttempt] = field(default_factory=list)
    status_webhooks: list[StatusWebhook] = field(default_factory=list)

    @property
    def settled(self) -> bool:
        """Finished, and nothing more will happen to its webhook."""
        return self.status.finished and self.webhook_state not in (
            WebhookState.PENDING,
            WebhookState.DELIVERING,
        )

    def to_json(self) -> JSONObject:
        return {
            "id": self.id,
            "provider": self.provider,
            "status": self.status.value,
            "settled": self.settled,
            "request": copy.deepcopy(self.request),
            "clip": {
                "width": self.clip.width,
                "height": self.clip.height,
                "duration_seconds": self.clip.duration_seconds,
                "with_audio": self.clip.with_audio,
                "moov_first": self.clip.moov_first,
            },
            "output_url": self.output_url,
            "output_sha256": self.output_sha256,
            "output_size": self.output_size,
            "last_frame_url": self.last_frame_url,
            "error": self.error,
            "stalled": self.stall_planned,
            "api_key": self.api_key,
            "ambiguous_create": self.ambiguous_create,
            "meta": copy.deepcopy(self.meta),
            "media_fetches": [fetch.to_json() for fetch in self.media_fetches],
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "webhook": {
                "url": self.webhook_url,
                "state": self.webhook_state.value,
                "body": self.webhook_body,
                "headers": dict(self.webhook_headers),
                "attempts": [attempt.to_json() for attempt in self.webhook_attempts],
            },
            "status_webhooks": [sent.to_json() for sent in self.status_webhooks],
        }


class KeyUsage(TypedDict):
    """One API key's jobs: queued or processing now (stalled ones included), the most active at once
    since the last usage reset, and the jobs it created since then."""

    active: int
    peak: int
    creates: int


class Dialect(ABC):
    """One provider's wire format, mounted at ``/{provider}``.

    Subclasses implement `route` (any method: GET, HEAD, POST, PUT, PATCH, DELETE reach it); a `Rejection`
    raised anywhere in it becomes `error(...)`. A dialect that takes uploads names the path segment its
    files are served under in `uploads_route`.

    Webhooks: `webhook_for` gives the one terminal notification (retried, and subject to the
    ``drop_webhooks``, ``duplicate_webhooks`` and ``webhook_delay_seconds`` faults). A dialect whose
    provider also calls back on every status change overrides `webhook_on_change`. To sign, a dialect
    takes the shared ring (`Host.signing_keys`) or a ring of its own (`key_ring`, ``host.key_ring(name)``)
    and signs any bytes it likes with ``ring.sign(message)``; ``POST /_sim/keys/rotate`` rotates every ring.

    Cancellation: a cancel route calls `cancel`, which applies `cancels_running_jobs` (False: only queued
    jobs may be cancelled) and returns a `CancelOutcome` for the dialect to word.
    """

    provider: ClassVar[str]
    uploads_route: ClassVar[str | None] = None
    #: Whether `cancel` may cancel a job that is already processing (not only a queued one).
    cancels_running_jobs: ClassVar[bool] = False

    def __init__(self, host: Host) -> None:
        self.host = host

    def handle(self, request: SimRequest) -> SimResponse:
        try:
            response = self.route(request)
        except Rejection as rejection:
            response = self.error(rejection.status, rejection.message, rejection.details)
            if rejection.headers:
                response = replace(response, headers={**response.headers, **rejection.headers})
        if request.context.disconnect:
            response = replace(response, disconnect=True)
        return response

    @abstractmethod
    def route(self, request: SimRequest) -> SimResponse:
        """Answer one request; raise `Rejection` to answer with an error."""

    @abstractmethod
    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        """An error response in this provider's error body shape."""

    @abstractmethod
    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        """The notification to send once `job` has finished (``succeeded``, ``failed`` or ``cancelled``),
        or None if the caller asked for none."""

    def webhook_on_change(self, job: SimulatedJob) -> OutgoingWebhook | None:
        """The notification to send when `job` enters a status that is not terminal: ``queued`` (at create,
        when jobs are held) and ``processing`` (at create, or when it leaves the queue); None (the default)
        sends nothing. The terminal change is `webhook_for`'s.

        Status-change webhooks of one job are sent in order, from the job's own worker, each before the
        next status change and before the terminal webhook; each is retried like the terminal one but no
        fault drops, delays or duplicates it. They are recorded in the job's ``status_webhooks``."""
        return None

    def pipeline_settings(self, base_url: str) -> dict[str, str]:
        """Settings that point the pipeline at this dialect mounted at `base_url`, over the default
        ``<NAME>_BASE_URL=<base_url>`` (Atlas: ``ATLASCLOUD_JWKS_URL``; ModelArk: its base URL with its
        own ``/api/v3``). The local stack sets them."""
        return {}

    def cancel(self, job_id: str) -> CancelOutcome:
        """Cancel one of this provider's jobs by the dialect's rule (`cancels_running_jobs`)."""
        return self.host.cancel(job_id, self.provider, allow_running=self.cancels_running_jobs)

    def key_ring(self) -> Ed25519KeyRing:
        """This provider's own Ed25519 key ring (named after it), created on first use."""
        return self.host.key_ring(self.provider)

    # -- helpers for subclasses -----------------------------------------------------------------------
    def require_bearer(self, request: SimRequest) -> None:
        """401 unless ``Authorization: Bearer <one of this provider's keys>``."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Rejection(401, "Unauthorized", "Missing Authorization: Bearer <api key> header")
        self.accept_key(request, token.strip(), "Invalid API key")

    def accept_key(self, request: SimRequest, presented: str, details: str) -> None:
        """401 (with `details`) unless `presented` is one of this provider's keys; otherwise remember it as
        the key the request's jobs are counted against."""
        if not self.host.key_matches(self.provider, presented):
            raise Rejection(401, "Unauthorized", details)
        request.context.api_key = presented

    def refuse_if_faulted(self) -> None:
        """Honour the ``reject_creates_*`` faults (call first thing in a create route)."""
        rejection = self.host.take_create_rejection(self.provider)
        if rejection is not None:
            raise rejection

    def start_job(
        self, request: SimRequest, job_id: str, plan: Callable[[JSONObject], JobPlan]
    ) -> SimulatedJob:
        """The create flow every dialect shares: the ``reject_creates_*`` faults, a JSON object body, the
        dialect's own validation (`plan`, raising `Rejection`), the media checks, then the job, counted
        against the request's API key (429 past ``max_active_per_key``). When the ``ambiguous_creates``
        fault takes the job, `handle` answers the request by closing the connection."""
        self.refuse_if_faulted()
        body = json_object_body(request)
        job_plan = plan(body)
        fetches = self.host.check_media(job_plan.media)
        job = self.host.submit(
            job_id=job_id,
            provider=self.provider,
            request=body,
            clip=job_plan.clip,
            webhook_url=job_plan.webhook_url,
            last_frame=job_plan.last_frame,
            meta=job_plan.meta,
            media_fetches=fetches,
            api_key=request.context.api_key,
        )
        if job.ambiguous_create:
            request.context.disconnect = True
        return job

    def not_found(self, request: SimRequest) -> Rejection:
        return Rejection(404, "Not found", f"No route for {request.method} {request.path}")

    def method_not_allowed(self, request: SimRequest) -> Rejection:
        return Rejection(405, "Method not allowed", f"{request.method} is not supported on {request.path}")


class Host(Protocol):
    """What a dialect may ask of the simulator that mounts it (`Dialect.host`); `SimulatorBackend` is the
    implementation. Every job and upload a host hands out is a copy: editing it changes nothing."""

    @property
    def signing_keys(self) -> Ed25519KeyRing:
        """The shared Ed25519 webhook key ring (Atlas Cloud's); ``POST /_sim/keys/rotate`` rotates it."""
        ...

    def provider_base_url(self, provider: str) -> str:
        """Where `provider` is mounted: ``http://127.0.0.1:<port>/<provider>``."""
        ...

    def output_url(self, provider: str, job_id: str) -> str:
        """Where a finished job's MP4 is served."""
        ...

    def last_frame_url(self, provider: str, job_id: str) -> str:
        """Where a finished job's last frame is served (when its plan asked for one)."""
        ...

    def key_matches(self, provider: str, presented: str) -> bool:
        """Whether `presented` is one of `provider`'s accepted API keys."""
        ...

    def take_create_rejection(self, provider: str) -> Rejection | None:
        """The error the ``reject_creates_*`` faults call for on this create at `provider` (consuming
        one), or None (always None outside the ``faults_provider`` scope)."""
        ...

    def check_media(self, inputs: Sequence[tuple[str, str]]) -> list[MediaFetch]:
        """Refuse (a 400 `Rejection` naming the field) media URLs a provider could not fetch; fetch the
        loopback ones when allowed. `inputs` are (field path, URL) pairs."""
        ...

    def submit(
        self,
        *,
        job_id: str,
        provider: str,
        request: JSONObject,
        clip: ClipSpec,
        webhook_url: str | None,
        last_frame: bool = False,
        meta: JSONObject | None = None,
        media_fetches: Sequence[MediaFetch] = (),
        api_key: str | None = None,
    ) -> SimulatedJob:
        """Register a job and start working on it, counted against `api_key` (a 429 `Rejection` past
        ``max_active_per_key``)."""
        ...

    def job(self, job_id: str, provider: str | None = None) -> SimulatedJob | None:
        """The job with that id (and, if given, of that provider), or None."""
        ...

    def store_upload(
        self, *, provider: str, upload_id: str, filename: str, content_type: str, data: bytes
    ) -> StoredUpload:
        """Keep an uploaded file, served under the dialect's `Dialect.uploads_route`."""
        ...

    def cancel(self, job_id: str, provider: str | None = None, *, allow_running: bool) -> CancelOutcome:
        """Cancel a queued job (a processing one too when `allow_running`). A cancelled job never renders
        or succeeds afterwards, stops counting as active for its API key, and gets its terminal webhook
        (`Dialect.webhook_for` sees status ``cancelled``) if the dialect returns one."""
        ...

    def key_ring(self, name: str) -> Ed25519KeyRing:
        """The Ed25519 key ring called `name`, created on first use (``"default"`` is `signing_keys`).
        ``POST /_sim/keys/rotate`` rotates every ring."""
        ...

    def derived_secret(self, label: str) -> bytes:
        """32 bytes for `label` (a dialect's account secret): the same at every start of a simulator
        made with a signing seed (the local stack's), random otherwise."""
        ...
