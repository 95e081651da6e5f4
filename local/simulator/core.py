"""The provider simulator's core: HTTP server, routing, job registry, request log, faults, webhooks, outputs.

Every provider dialect is mounted under a path prefix named after the provider (``/eachlabs/...``) and is
a `Dialect` subclass that only parses its own wire format; everything stateful lives here.

Routes
------
``/{provider}/outputs/{job_id}.mp4``         GET/HEAD: the generated MP4 (single ``Range: bytes=`` ranges).
``/{provider}/outputs/{job_id}-last.png``    GET/HEAD: the clip's last frame, when the dialect asked for it.
``/{provider}/{uploads_route}/{id}/{name}``  GET/HEAD: a file uploaded through that dialect (no auth).
``/{provider}/...``                          handed to that provider's dialect.
``/_sim/health``                             GET: liveness and mounted providers.
``/_sim/requests``                           GET: the request log (``?provider=`` filters); DELETE clears it.
``/_sim/faults``                             GET; POST merges a JSON object into the knobs; DELETE resets.
``/_sim/predictions``                        GET: every job record.
``/_sim/predictions/{job_id}``               GET: one job record (status, output, request, webhook).
``/_sim/uploads``                            GET: every stored upload (id, provider, file name, size, URL).
``/_sim/keys/rotate``                        POST: a new Ed25519 webhook signing key; ``{"kid": <new kid>}``.
``/_sim/api-keys``                           GET: ``{provider: [accepted keys]}``; POST
                                             ``{"provider", "key"}`` accepts one more key (400: unknown
                                             provider, empty key); answers ``{"provider", "keys"}``.
``/_sim/usage``                              GET: ``{provider: {key: {"active", "peak", "creates"}}}``;
                                             DELETE: peaks back to the active counts, creates to 0.

API keys and usage
------------------
Each provider accepts one or more API keys (`ProviderSimulator(api_keys=...)`, ``POST /_sim/api-keys``).
Every job records the key that created it (``api_key``). Per (provider, key): ``active`` is the jobs now
``processing`` (stalled ones included), ``peak`` the most active at once since the last reset, ``creates``
the jobs created since then. With the ``max_active_per_key`` fault set, a create whose key already has that
many active jobs is refused with 429 in the dialect's error shape and ``Retry-After: 1``, creating no job;
the check and the count are one step under one lock, so they are exact under concurrent creates.

Create faults
-------------
In the order a create meets them: ``reject_creates_with_status`` (with ``reject_creates_count`` and
``reject_creates_retry_after``) refuses before any validation; the dialect's validation and media checks;
``max_active_per_key``; then ``ambiguous_creates``: the job is created and runs (webhook included) as
usual, but the connection is closed without a response byte, so the client cannot know it was accepted.
The request log records such a create with the status it would have had. See `SimulatorFaults`.

Media inputs
------------
Dialects hand every media URL of a create call to `SimulatorBackend.check_media`, which refuses (400 naming
the field) what a real provider could not fetch. The simulator's own upload and output URLs are always
accepted (checked in its stores, not over HTTP). Other URLs must be public https and are never fetched,
unless the simulator was built with ``allow_loopback_media``: then http(s) URLs to a loopback host are
accepted too, and fetched once (GET, short timeout) at create time; a failed fetch refuses the create.

Request log
-----------
Each entry: ``provider``, ``method``, ``path`` (full path, prefix included), ``query`` (last value per
key), ``headers`` (lower-case keys), ``json`` (parsed body or None) and ``status``. Dialect calls are
logged with the provider name; output and last-frame downloads with provider ``"outputs"``; upload
downloads with provider ``"uploads"``; requests to unknown prefixes with provider None. Control-plane
(``/_sim``) requests are never logged.

Job records use the simulator's own status words: ``processing``, ``succeeded``, ``failed``; each dialect
translates them into its wire vocabulary.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import hmac
import ipaddress
import json
import logging
import math
import shutil
import socket
import ssl
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Literal, Self, TypedDict, cast
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx

from local.simulator.media import ClipCache, ClipSpec
from local.simulator.signing import Ed25519KeyRing

logger = logging.getLogger(__name__)

type JSONValue = None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]
type JSONObject = dict[str, JSONValue]

CONTROL_PREFIX = "_sim"
OUTPUTS_LOG_PROVIDER = "outputs"
UPLOADS_LOG_PROVIDER = "uploads"
DEFAULT_API_KEYS: Mapping[str, str] = {
    "eachlabs": "sim-eachlabs-key",
    "atlascloud": "sim-atlascloud-key",
    "gateway": "sim-gateway-key",
    "jobs_api": "sim-jobs-api-key",
}
DEFAULT_WEBHOOK_BACKOFF_SECONDS = (0.2, 0.5, 1.0)
DOWNLOAD_CHUNK_BYTES = 256 * 1024
MAX_REQUEST_BODY_BYTES = 64 * 1024 * 1024
MEDIA_FETCH_TIMEOUT_SECONDS = 5.0
LAST_FRAME_SUFFIX = "-last.png"
#: Jobs the simulator works on at once (each mostly waiting out its processing time).
MAX_JOBS_IN_FLIGHT = 256


class LoggedRequest(TypedDict):
    provider: str | None
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: JSONValue
    status: int


class JobStatus(StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


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


FAULT_MESSAGES: Mapping[int, str] = {
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


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

    `media`: (field path, URL) of every media input, for `SimulatorBackend.check_media`. `last_frame`: also
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
class ServedFile:
    path: Path
    size: int
    content_type: str


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

    @property
    def settled(self) -> bool:
        """Finished, and nothing more will happen to its webhook."""
        return self.status is not JobStatus.PROCESSING and self.webhook_state not in (
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
            "completed_at": self.completed_at,
            "webhook": {
                "url": self.webhook_url,
                "state": self.webhook_state.value,
                "body": self.webhook_body,
                "headers": dict(self.webhook_headers),
                "attempts": [
                    {
                        "copy": attempt.copy,
                        "attempt": attempt.attempt,
                        "url": attempt.url,
                        "status_code": attempt.status_code,
                        "error": attempt.error,
                        "sent_at": attempt.sent_at,
                        "duration_seconds": attempt.duration,
                    }
                    for attempt in self.webhook_attempts
                ],
            },
        }


type FaultCounter = Literal[
    "cut_downloads", "fail_predictions", "drop_webhooks", "stall_predictions", "ambiguous_creates"
]
_WHOLE_NUMBER_KNOBS = (
    "cut_downloads",
    "duplicate_webhooks",
    "fail_predictions",
    "drop_webhooks",
    "stall_predictions",
    "ambiguous_creates",
    "reject_creates_count",
)
FAULT_KNOBS = (
    *_WHOLE_NUMBER_KNOBS,
    "webhook_delay_seconds",
    "reject_creates_with_status",
    "reject_creates_retry_after",
    "max_active_per_key",
)
LIMIT_RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class CreateRejection:
    """What the ``reject_creates_*`` knobs make of one create: its status and optional Retry-After."""

    status: int
    retry_after_seconds: float | None = None

    @property
    def headers(self) -> dict[str, str]:
        if self.retry_after_seconds is None:
            return {}
        return {"Retry-After": str(math.ceil(self.retry_after_seconds))}


@dataclass
class SimulatorFaults:
    """Fault knobs. Counters are consumed one per use; the others persist until changed.

    ``stall_predictions``: the next N jobs never finish (processing forever, no webhook); a stalled job
    consumes no ``fail_predictions`` or ``drop_webhooks``.

    ``reject_creates_with_status`` (null or 400-599): the next ``reject_creates_count`` creates are
    answered with that status (before any validation) and create nothing; then the status clears itself.
    A patch that sets a status without a count means a count of 1; a patch that sets the count to 0
    clears the status. (Setting the attributes directly: a status with a count of 0 rejects one create.)
    ``reject_creates_retry_after`` (null or seconds >= 0, persistent): rejected creates carry
    ``Retry-After`` with that many seconds, rounded up to an integer.

    ``max_active_per_key`` (null or >= 1, persistent): a create whose API key already has that many jobs
    processing (stalled ones included) is refused with 429 and ``Retry-After: 1``, creating nothing.

    ``ambiguous_creates``: the next N creates that pass validation (and the limit) are accepted, but the
    connection is closed without a response.
    """

    cut_downloads: int = 0
    duplicate_webhooks: int = 0
    fail_predictions: int = 0
    drop_webhooks: int = 0
    stall_predictions: int = 0
    ambiguous_creates: int = 0
    reject_creates_count: int = 0
    webhook_delay_seconds: float = 0.0
    reject_creates_with_status: int | None = None
    reject_creates_retry_after: float | None = None
    max_active_per_key: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def take(self, counter: FaultCounter) -> bool:
        with self._lock:
            remaining: int = getattr(self, counter)
            if remaining <= 0:
                return False
            setattr(self, counter, remaining - 1)
            return True

    def take_create_rejection(self) -> CreateRejection | None:
        """The rejection for the create at hand, if the ``reject_creates_*`` knobs call for one."""
        with self._lock:
            status = self.reject_creates_with_status
            if status is None:
                return None
            remaining = max(1, self.reject_creates_count) - 1
            self.reject_creates_count = remaining
            if remaining == 0:
                self.reject_creates_with_status = None
            return CreateRejection(status, self.reject_creates_retry_after)

    def to_json(self) -> JSONObject:
        with self._lock:
            return {name: getattr(self, name) for name in FAULT_KNOBS}

    def reset(self) -> None:
        self.apply(SimulatorFaults().to_json())

    def apply(self, patch: Mapping[str, JSONValue]) -> None:
        """Merge knob values; raises ValueError naming the first bad knob, leaving all knobs unchanged."""
        updates: dict[str, int | float | None] = {}
        for name, value in patch.items():
            updates[name] = _validated_knob(name, value)
        if "reject_creates_count" in updates:
            if updates["reject_creates_count"] == 0:
                updates["reject_creates_with_status"] = None
        elif "reject_creates_with_status" in updates:
            updates["reject_creates_count"] = 0 if updates["reject_creates_with_status"] is None else 1
        with self._lock:
            for name, value in updates.items():
                setattr(self, name, value)


def _validated_knob(name: str, value: JSONValue) -> int | float | None:
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if name in _WHOLE_NUMBER_KNOBS:
        if not is_integer or cast(int, value) < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return cast(int, value)
    if name == "webhook_delay_seconds":
        if not is_number or not math.isfinite(cast(float, value)) or cast(float, value) < 0:
            raise ValueError(f"{name} must be a non-negative number")
        return float(cast(float, value))
    if name == "reject_creates_with_status":
        if value is None:
            return None
        if not is_integer or not 400 <= cast(int, value) <= 599:
            raise ValueError(f"{name} must be null or an HTTP error status (400-599)")
        return cast(int, value)
    if name == "reject_creates_retry_after":
        if value is None:
            return None
        if not is_number or not math.isfinite(cast(float, value)) or cast(float, value) < 0:
            raise ValueError(f"{name} must be null or a non-negative number of seconds")
        return cast(float, value)
    if name == "max_active_per_key":
        if value is None:
            return None
        if not is_integer or cast(int, value) < 1:
            raise ValueError(f"{name} must be null or a positive integer")
        return cast(int, value)
    raise ValueError(f"unknown fault knob {name!r}")


class Dialect(ABC):
    """One provider's wire format, mounted at ``/{provider}``.

    Subclasses implement `route`; a `Rejection` raised anywhere in it becomes `error(...)`. A dialect that
    takes uploads names the path segment its files are served under in `uploads_route`.
    """

    provider: ClassVar[str]
    uploads_route: ClassVar[str | None] = None

    def __init__(self, backend: SimulatorBackend) -> None:
        self.backend = backend

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
        """The notification to send once `job` has finished, or None if the caller asked for none."""

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
        if not self.backend.key_matches(self.provider, presented):
            raise Rejection(401, "Unauthorized", details)
        request.context.api_key = presented

    def refuse_if_faulted(self) -> None:
        """Honour the ``reject_creates_*`` faults (call first thing in a create route)."""
        rejection = self.backend.faults.take_create_rejection()
        if rejection is not None:
            raise Rejection(
                rejection.status,
                FAULT_MESSAGES.get(rejection.status, "Simulated provider error"),
                "Injected by the reject_creates_with_status fault",
                rejection.headers,
            )

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
        fetches = self.backend.check_media(job_plan.media)
        job = self.backend.submit(
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


class KeyUsage(TypedDict):
    """One API key's jobs: processing now (stalled ones included), the most processing at once since the
    last usage reset, and the jobs it created since then."""

    active: int
    peak: int
    creates: int


type ApiKeys = Mapping[str, str | Sequence[str]]


def normalized_api_keys(api_keys: ApiKeys) -> dict[str, tuple[str, ...]]:
    """Provider -> its accepted keys, in order, without duplicates; a single key may be given as a str."""
    normalized: dict[str, tuple[str, ...]] = {}
    for provider, keys in api_keys.items():
        given = (keys,) if isinstance(keys, str) else tuple(keys)
        for key in given:
            if api_key_problem(key) is not None:
                raise ValueError(f"API key for {provider!r}: {api_key_problem(key)}")
        normalized[provider] = tuple(dict.fromkeys(given))
    return normalized


def api_key_problem(key: object) -> str | None:
    """Why `key` cannot be an API key (it must travel in a header), or None."""
    if not isinstance(key, str) or not key:
        return "must be a non-empty string"
    if key != key.strip() or any(ord(char) < 0x21 or ord(char) > 0x7E for char in key):
        return "must be printable ASCII without spaces"
    return None


class SimulatorBackend:
    """Jobs, their workers, the clip cache and webhook delivery; shared by every dialect."""

    def __init__(
        self,
        *,
        api_keys: ApiKeys,
        processing_seconds: float,
        render_workers: int,
        webhook_backoff_seconds: Sequence[float],
        webhook_timeout_seconds: float,
        media_cache_dir: Path | None,
        allow_loopback_media: bool = False,
    ) -> None:
        self._api_keys = normalized_api_keys(api_keys)
        self._usage: dict[tuple[str, str], KeyUsage] = {}
        self.processing_seconds = processing_seconds
        self.allow_loopback_media = allow_loopback_media
        self.faults = SimulatorFaults()
        self.signing_keys = Ed25519KeyRing()
        self.base_url = ""
        self._uploads_dir: Path | None = None
        self._uploads: dict[str, StoredUpload] = {}
        self._webhook_backoff = tuple(webhook_backoff_seconds)
        self._clips = ClipCache(media_cache_dir)
        self._dialects: dict[str, Dialect] = {}
        self._jobs: dict[str, SimulatedJob] = {}
        self._log: list[LoggedRequest] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        # Jobs run side by side, as at a real provider: each waits out its processing time on a
        # thread of its own, and only the encoding itself is limited to render_workers at a time.
        self._workers = ThreadPoolExecutor(max_workers=MAX_JOBS_IN_FLIGHT, thread_name_prefix="sim-job")
        self._render_slots = threading.BoundedSemaphore(render_workers)
        self._notifiers = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sim-webhook")
        self._http = httpx.Client(
            timeout=webhook_timeout_seconds, trust_env=False, follow_redirects=False, verify=_tls_context()
        )

    # -- wiring ---------------------------------------------------------------------------------------
    def mount(self, dialect: Dialect) -> None:
        self._dialects[dialect.provider] = dialect

    def dialect(self, provider: str) -> Dialect | None:
        return self._dialects.get(provider)

    @property
    def providers(self) -> list[str]:
        return sorted(self._dialects)

    def provider_base_url(self, provider: str) -> str:
        return f"{self.base_url}/{provider}"

    def output_url(self, provider: str, job_id: str) -> str:
        return f"{self.provider_base_url(provider)}/outputs/{job_id}.mp4"

    def last_frame_url(self, provider: str, job_id: str) -> str:
        return f"{self.provider_base_url(provider)}/outputs/{job_id}{LAST_FRAME_SUFFIX}"

    # -- API keys and their usage ---------------------------------------------------------------------
    def key_matches(self, provider: str, presented: str) -> bool:
        """Whether `presented` is one of `provider`'s accepted keys."""
        with self._changed:
            accepted = self._api_keys.get(provider, ())
        matches = [hmac.compare_digest(presented.encode(), key.encode()) for key in accepted]
        return any(matches)

    @property
    def api_keys(self) -> dict[str, list[str]]:
        """Every mounted provider (and every provider given keys) -> its accepted keys."""
        with self._changed:
            providers = sorted({*self._dialects, *self._api_keys})
            return {provider: list(self._api_keys.get(provider, ())) for provider in providers}

    def add_api_key(self, provider: str, key: str) -> list[str]:
        """Accept `key` for `provider` from now on (on top of its others); returns its accepted keys."""
        if provider not in self._dialects:
            raise ValueError(f"no simulated provider named {provider!r}; mounted: {self.providers}")
        problem = api_key_problem(key)
        if problem is not None:
            raise ValueError(f"key {problem}")
        with self._changed:
            keys = self._api_keys.get(provider, ())
            if key not in keys:
                self._api_keys[provider] = (*keys, key)
            return list(self._api_keys[provider])

    def usage(self) -> dict[str, dict[str, KeyUsage]]:
        """Provider -> key -> its `KeyUsage`, for every accepted key and every key that created a job."""
        with self._changed:
            table: dict[str, dict[str, KeyUsage]] = {
                provider: {key: KeyUsage(active=0, peak=0, creates=0) for key in keys}
                for provider, keys in self._api_keys.items()
            }
            for provider in self._dialects:
                table.setdefault(provider, {})
            for (provider, key), counts in self._usage.items():
                table.setdefault(provider, {})[key] = KeyUsage(**counts)
            return {provider: table[provider] for provider in sorted(table)}

    def reset_usage(self) -> dict[str, dict[str, KeyUsage]]:
        """Peaks back to the current active counts, creates to 0; returns the usage after the reset."""
        with self._changed:
            for counts in self._usage.values():
                counts["peak"] = counts["active"]
                counts["creates"] = 0
        return self.usage()

    def _usage_of(self, provider: str, api_key: str | None) -> KeyUsage:
        """The live counters of one key (call with the lock held)."""
        return self._usage.setdefault((provider, api_key or ""), KeyUsage(active=0, peak=0, creates=0))

    # -- jobs -----------------------------------------------------------------------------------------
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
        """Register a job and start working on it, counted against `api_key`.

        `last_frame`: also produce the clip's last frame as a PNG at `last_frame_url`. `meta`: wire-level
        facts the dialect wants back with the job (ids, names); the core never reads them. Raises a 429
        `Rejection` (``Retry-After: 1``), creating nothing, when `api_key` already has
        ``max_active_per_key`` jobs processing: the check and the count are one step under the lock.
        """
        request_copy = copy.deepcopy(request)
        meta_copy = copy.deepcopy(meta) if meta is not None else {}
        with self._changed:
            counts = self._usage_of(provider, api_key)
            limit = self.faults.max_active_per_key
            if limit is not None and counts["active"] >= limit:
                raise Rejection(
                    429,
                    "Rate limit exceeded",
                    f"Too many concurrent predictions: at most {limit} per API key",
                    {"Retry-After": str(LIMIT_RETRY_AFTER_SECONDS)},
                )
            stall = self.faults.take("stall_predictions")
            job = SimulatedJob(
                id=job_id,
                provider=provider,
                request=request_copy,
                clip=clip,
                webhook_url=webhook_url,
                processing_seconds=self.processing_seconds,
                stall_planned=stall,
                fail_planned=not stall and self.faults.take("fail_predictions"),
                drop_webhook=not stall and webhook_url is not None and self.faults.take("drop_webhooks"),
                api_key=api_key,
                ambiguous_create=self.faults.take("ambiguous_creates"),
                last_frame_requested=last_frame,
                meta=meta_copy,
                media_fetches=list(media_fetches),
                webhook_state=WebhookState.PENDING if webhook_url else WebhookState.NONE,
            )
            self._jobs[job_id] = job
            counts["active"] += 1
            counts["creates"] += 1
            counts["peak"] = max(counts["peak"], counts["active"])
            self._changed.notify_all()
            snapshot = copy.deepcopy(job)
        self._workers.submit(self._run_job, job_id)
        return snapshot

    def job(self, job_id: str, provider: str | None = None) -> SimulatedJob | None:
        with self._changed:
            job = self._jobs.get(job_id)
            if job is None or (provider is not None and job.provider != provider):
                return None
            return copy.deepcopy(job)

    def jobs(self) -> list[SimulatedJob]:
        with self._changed:
            return [copy.deepcopy(job) for job in self._jobs.values()]

    def wait_for_job(self, job_id: str, *, timeout: float, settled: bool = True) -> SimulatedJob:
        """Block until the job has finished (if `settled`, its webhook too); TimeoutError otherwise."""

        def ready() -> bool:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            return job.settled if settled else job.status is not JobStatus.PROCESSING

        with self._changed:
            if not self._changed.wait_for(ready, timeout=timeout):
                state = self._jobs[job_id].to_json() if job_id in self._jobs else "unknown job"
                raise TimeoutError(f"job {job_id} not done after {timeout}s: {state}")
            return copy.deepcopy(self._jobs[job_id])

    def _update(self, job_id: str, change: Callable[[SimulatedJob], None]) -> SimulatedJob:
        with self._changed:
            job = self._jobs[job_id]
            was_active = job.status is JobStatus.PROCESSING
            change(job)
            if was_active and job.status is not JobStatus.PROCESSING:
                self._usage_of(job.provider, job.api_key)["active"] -= 1
            self._changed.notify_all()
            return copy.deepcopy(job)

    def _run_job(self, job_id: str) -> None:
        try:
            self._complete_job(job_id)
        except Exception:
            logger.exception("simulated job crashed", extra={"job_id": job_id})

    def _complete_job(self, job_id: str) -> None:
        job = self.job(job_id)
        if job is None or job.stall_planned or self._stopping.wait(job.processing_seconds):
            return
        if job.fail_planned:
            finished = self._update(
                job_id, _mark_failed("Simulated generation failure (fail_predictions fault)")
            )
        else:
            try:
                with self._render_slots:
                    clip = self._clips.get(job.clip)
                    frame = self._clips.last_frame(job.clip) if job.last_frame_requested else None
            except Exception as exc:
                if self._stopping.is_set():
                    return  # the clip directory was removed under us by close()
                logger.exception("rendering the simulated clip failed", extra={"job_id": job_id})
                finished = self._update(job_id, _mark_failed(f"Rendering failed: {type(exc).__name__}"))
            else:
                output_url = self.output_url(job.provider, job_id)
                last_frame_url = self.last_frame_url(job.provider, job_id)

                def succeed(record: SimulatedJob) -> None:
                    record.status = JobStatus.SUCCEEDED
                    record.completed_at = time.time()
                    record.output_url = output_url
                    record.output_path = clip.path
                    record.output_sha256 = clip.sha256
                    record.output_size = clip.size
                    if frame is not None:
                        record.last_frame_url = last_frame_url
                        record.last_frame_path = frame.path
                        record.last_frame_size = frame.size

                finished = self._update(job_id, succeed)

        dialect = self._dialects[finished.provider]
        webhook = dialect.webhook_for(finished) if finished.webhook_url else None
        if webhook is None:
            self._update(job_id, _set_webhook_state(WebhookState.NONE))
        elif not self._stopping.is_set():
            # close() may shut the pool between the check and the submit.
            with contextlib.suppress(RuntimeError):
                self._notifiers.submit(self._notify, job_id, webhook, finished.drop_webhook)

    # -- media inputs ---------------------------------------------------------------------------------
    def check_media(self, inputs: Sequence[tuple[str, str]]) -> list[MediaFetch]:
        """Refuse (400 naming the field) media URLs a provider could not fetch; fetch loopback ones.

        `inputs` are (field path, URL) pairs. All are checked before anything is fetched.
        """
        to_fetch: list[tuple[str, str]] = []
        for field_path, url in inputs:
            problem, fetch = self._media_url_verdict(url)
            if problem is not None:
                raise invalid(field_path, problem, f"Got {url[:120]!r}")
            if fetch:
                to_fetch.append((field_path, url))
        return [self._fetch_media(field_path, url) for field_path, url in to_fetch]

    def _media_url_verdict(self, url: str) -> tuple[str | None, bool]:
        """(problem or None, whether to fetch it)."""
        try:
            parts = urlsplit(url)
            host = parts.hostname
            port = parts.port
        except ValueError:
            return "must be a valid URL", False
        if parts.scheme in ("http", "https") and host is not None and _is_loopback_host(host):
            if self.base_url and port == urlsplit(self.base_url).port and parts.scheme == "http":
                if self.served_file(unquote(parts.path)) is None:
                    return "points at the simulator but not at an existing upload or output", False
                return None, False
            if self.allow_loopback_media:
                return None, True
        return public_https_url_problem(url), False

    def _fetch_media(self, field_path: str, url: str) -> MediaFetch:
        try:
            with self._http.stream("GET", url, timeout=MEDIA_FETCH_TIMEOUT_SECONDS) as response:
                size = sum(len(chunk) for chunk in response.iter_bytes())
        except httpx.HTTPError as exc:
            raise invalid(field_path, "could not be fetched", f"{type(exc).__name__}: {exc}") from None
        if not 200 <= response.status_code < 300:
            raise invalid(field_path, f"could not be fetched (HTTP {response.status_code})", url[:120])
        return MediaFetch(field=field_path, url=url, status_code=response.status_code, size=size)

    # -- uploads and served files ---------------------------------------------------------------------
    def store_upload(
        self, *, provider: str, upload_id: str, filename: str, content_type: str, data: bytes
    ) -> StoredUpload:
        """Keep an uploaded file; it is served at the URL in the answer, under the dialect's uploads_route."""
        dialect = self._dialects[provider]
        if dialect.uploads_route is None:
            raise ValueError(f"the {provider} dialect declares no uploads_route")
        with self._changed:
            if self._uploads_dir is None:
                self._uploads_dir = Path(tempfile.mkdtemp(prefix="seedance-sim-uploads-"))
            directory = self._uploads_dir
        path = directory / upload_id
        path.write_bytes(data)
        upload = StoredUpload(
            id=upload_id,
            provider=provider,
            filename=filename,
            content_type=content_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            url=f"{self.provider_base_url(provider)}/{dialect.uploads_route}/{upload_id}/"
            + quote(filename, safe=""),
            path=path,
            created_at=time.time(),
        )
        with self._changed:
            self._uploads[upload_id] = upload
        return upload

    def uploads(self) -> list[StoredUpload]:
        with self._changed:
            return list(self._uploads.values())

    def served_file(self, full_path: str) -> ServedFile | None:
        """The file the simulator serves at `full_path` (output MP4, last frame, upload), if any."""
        _, provider, kind, name = (full_path.split("/", 3) + ["", "", ""])[:4]
        dialect = self._dialects.get(provider)
        if dialect is None or not name:
            return None
        if kind == "outputs":
            job_id = name.removesuffix(".mp4").removesuffix(LAST_FRAME_SUFFIX)
            job = self.job(job_id, provider)
            if job is None:
                return None
            if name == f"{job_id}.mp4" and job.output_path is not None and job.output_size is not None:
                return ServedFile(job.output_path, job.output_size, "video/mp4")
            if name == f"{job_id}{LAST_FRAME_SUFFIX}" and job.last_frame_path is not None:
                return ServedFile(job.last_frame_path, job.last_frame_size or 0, "image/png")
            return None
        if kind == dialect.uploads_route:
            upload_id, _, filename = name.partition("/")
            with self._changed:
                upload = self._uploads.get(upload_id)
            if upload is None or upload.provider != provider or filename != upload.filename:
                return None
            return ServedFile(upload.path, upload.size, upload.content_type)
        return None

    # -- webhooks -------------------------------------------------------------------------------------
    def _notify(self, job_id: str, webhook: OutgoingWebhook, drop: bool) -> None:
        try:
            self._deliver(job_id, webhook, drop)
        except Exception:
            logger.exception("webhook delivery crashed", extra={"job_id": job_id})
            self._update(job_id, _set_webhook_state(WebhookState.GAVE_UP))

    def _deliver(self, job_id: str, webhook: OutgoingWebhook, drop: bool) -> None:
        def record_message(job: SimulatedJob) -> None:
            job.webhook_body = webhook.body.decode()
            job.webhook_headers = dict(webhook.headers)
            job.webhook_state = WebhookState.DROPPED if drop else WebhookState.DELIVERING

        self._update(job_id, record_message)
        if drop:
            return
        delay = self.faults.webhook_delay_seconds
        if delay > 0 and self._stopping.wait(delay):
            return
        copies = max(1, self.faults.duplicate_webhooks)
        if copies == 1:
            delivered = self._deliver_copy(job_id, webhook, 1, None)
        else:
            # All copies leave together (barrier) so receivers really see them race.
            start_line = threading.Barrier(copies)
            outcomes: list[bool] = []
            senders = [
                threading.Thread(
                    target=lambda n=n: outcomes.append(self._deliver_copy(job_id, webhook, n, start_line)),
                    name=f"sim-webhook-copy-{n}",
                    daemon=True,
                )
                for n in range(1, copies + 1)
            ]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
            delivered = any(outcomes)
        self._update(
            job_id, _set_webhook_state(WebhookState.DELIVERED if delivered else WebhookState.GAVE_UP)
        )

    def _deliver_copy(
        self, job_id: str, webhook: OutgoingWebhook, copy_number: int, start_line: threading.Barrier | None
    ) -> bool:
        if start_line is not None:
            # A broken barrier only means the copies leave a little less together.
            with contextlib.suppress(threading.BrokenBarrierError):
                start_line.wait(timeout=5)
        for attempt in range(1, len(self._webhook_backoff) + 2):
            if self._stopping.is_set():
                return False
            status_code: int | None = None
            error: str | None = None
            sent_at = time.time()
            started = time.perf_counter()
            try:
                response = self._http.post(webhook.url, content=webhook.body, headers=dict(webhook.headers))
                status_code = response.status_code
            except (httpx.HTTPError, RuntimeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            duration = time.perf_counter() - started
            self._update(
                job_id,
                _append_attempt(
                    DeliveryAttempt(copy_number, attempt, webhook.url, status_code, error, sent_at, duration)
                ),
            )
            if status_code is not None and 200 <= status_code < 300:
                return True
            if attempt <= len(self._webhook_backoff) and self._stopping.wait(
                self._webhook_backoff[attempt - 1]
            ):
                return False
        return False

    # -- request log ----------------------------------------------------------------------------------
    def log_request(self, entry: LoggedRequest) -> None:
        with self._changed:
            self._log.append(entry)
            self._changed.notify_all()

    def logged_requests(self, provider: str | None = None) -> list[LoggedRequest]:
        with self._changed:
            entries = [entry for entry in self._log if provider is None or entry["provider"] == provider]
            return copy.deepcopy(entries)

    def clear_requests(self) -> int:
        with self._changed:
            cleared = len(self._log)
            self._log.clear()
            return cleared

    # -- lifecycle ------------------------------------------------------------------------------------
    def close(self) -> None:
        self._stopping.set()
        self._workers.shutdown(wait=False, cancel_futures=True)
        self._notifiers.shutdown(wait=False, cancel_futures=True)
        self._http.close()
        self._clips.close()
        if self._uploads_dir is not None:
            shutil.rmtree(self._uploads_dir, ignore_errors=True)


def public_https_url_problem(url: str) -> str | None:
    """Why a provider on the internet could not fetch `url`, or None if it is a public https URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "must be a valid URL"
    if parts.scheme != "https":
        return "must be a publicly reachable HTTPS URL (no data URIs, no plain http)"
    if not host:
        return "must include a host name"
    if host == "localhost" or host.endswith(".localhost"):
        return "must not point at localhost"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not address.is_global:
        return "must be publicly reachable (loopback, private and link-local addresses are refused)"
    return None


def _is_loopback_host(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle is most of the cost of an httpx.Client; simulators in one process share it.
    return ssl.create_default_context()


def _mark_failed(message: str) -> Callable[[SimulatedJob], None]:
    def fail(job: SimulatedJob) -> None:
        job.status = JobStatus.FAILED
        job.completed_at = time.time()
        job.error = message

    return fail


def _append_attempt(attempt: DeliveryAttempt) -> Callable[[SimulatedJob], None]:
    def append(job: SimulatedJob) -> None:
        job.webhook_attempts.append(attempt)

    return append


def _set_webhook_state(state: WebhookState) -> Callable[[SimulatedJob], None]:
    def set_state(job: SimulatedJob) -> None:
        job.webhook_state = state

    return set_state


class _SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], backend: SimulatorBackend) -> None:
        super().__init__(address, _RequestHandler)
        self.backend = backend
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def drop_connections(self) -> None:
        """Close idle keep-alive connections so their handler threads end with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    server: _SimulatorHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "SeedanceProviderSimulator/1"
    timeout = 120

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        logger.debug(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    @property
    def backend(self) -> SimulatorBackend:
        return self.server.backend

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        headers = {name.lower(): value for name, value in self.headers.items()}
        segments = split.path.split("/", 2)
        prefix = segments[1] if len(segments) > 1 else ""
        rest = "/" + segments[2] if len(segments) > 2 else "/"
        dialect = self.backend.dialect(prefix)
        body = self._read_body(headers, dialect)
        if body is None:
            return
        parsed, json_valid = _parse_json(body)
        request = SimRequest(self.command, rest, split.path, query, headers, body, parsed, json_valid)

        if prefix == CONTROL_PREFIX:
            self._send(self._control(request))
            return
        if dialect is None:
            response = SimResponse(404, {"error": f"no simulated provider is mounted at /{prefix}"})
            self._send_logged(None, request, response)
            return
        if rest.startswith("/outputs/"):
            self._serve_file(dialect, request, OUTPUTS_LOG_PROVIDER)
            return
        if dialect.uploads_route is not None and rest.startswith(f"/{dialect.uploads_route}/"):
            self._serve_file(dialect, request, UPLOADS_LOG_PROVIDER)
            return
        try:
            response = dialect.handle(request)
        except Exception:
            logger.exception("dialect crashed", extra={"provider": dialect.provider, "path": split.path})
            response = dialect.error(
                500, "Internal server error", "The simulator failed to handle the request"
            )
        self._send_logged(dialect.provider, request, response)

    def _read_body(self, headers: Mapping[str, str], dialect: Dialect | None) -> bytes | None:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            self._send(
                SimResponse(411, {"error": "chunked request bodies are not supported; send Content-Length"})
            )
            return None
        try:
            length = int(headers.get("content-length", "0") or "0")
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(SimResponse(400, {"error": "invalid Content-Length"}))
            return None
        if length > MAX_REQUEST_BODY_BYTES:
            # Not read: the connection is closed instead.
            self.close_connection = True
            message, details = (
                "Request body too large",
                f"The simulator takes at most {MAX_REQUEST_BODY_BYTES} bytes",
            )
            self._send(
                dialect.error(413, message, details)
                if dialect is not None
                else SimResponse(413, {"error": f"{message}: {details}"})
            )
            return None
        return self.rfile.read(length) if length > 0 else b""

    # -- control plane --------------------------------------------------------------------------------
    def _control(self, request: SimRequest) -> SimResponse:
        backend = self.backend
        route = (request.method, request.path.rstrip("/") or "/")
        match route:
            case ("GET", "/health"):
                return SimResponse(200, {"status": "ok", "providers": cast(JSONValue, backend.providers)})
            case ("GET", "/requests"):
                provider = request.query.get("provider")
                return SimResponse(200, cast(JSONValue, backend.logged_requests(provider)))
            case ("DELETE", "/requests"):
                return SimResponse(200, {"cleared": backend.clear_requests()})
            case ("GET", "/faults"):
                return SimResponse(200, backend.faults.to_json())
            case ("POST", "/faults"):
                if not isinstance(request.json, dict):
                    return SimResponse(400, {"error": "POST /_sim/faults takes a JSON object of knob values"})
                try:
                    backend.faults.apply(request.json)
                except ValueError as exc:
                    return SimResponse(400, {"error": str(exc)})
                return SimResponse(200, backend.faults.to_json())
            case ("DELETE", "/faults"):
                backend.faults.reset()
                return SimResponse(200, backend.faults.to_json())
            case ("GET", "/predictions"):
                return SimResponse(200, [job.to_json() for job in backend.jobs()])
            case ("GET", path) if path.startswith("/predictions/"):
                job = backend.job(path.removeprefix("/predictions/"))
                if job is None:
                    return SimResponse(404, {"error": "unknown prediction id"})
                return SimResponse(200, job.to_json())
            case ("GET", "/uploads"):
                return SimResponse(200, [upload.to_json() for upload in backend.uploads()])
            case ("POST", "/keys/rotate"):
                return SimResponse(200, {"kid": backend.signing_keys.rotate()})
            case ("GET", "/api-keys"):
                return SimResponse(200, cast(JSONValue, backend.api_keys))
            case ("POST", "/api-keys"):
                return self._add_api_key(request)
            case ("GET", "/usage"):
                return SimResponse(200, cast(JSONValue, backend.usage()))
            case ("DELETE", "/usage"):
                return SimResponse(200, cast(JSONValue, backend.reset_usage()))
        return SimResponse(404, {"error": f"no control-plane route {request.method} /_sim{request.path}"})

    def _add_api_key(self, request: SimRequest) -> SimResponse:
        body = request.json
        if not isinstance(body, dict) or set(body) != {"provider", "key"}:
            return SimResponse(
                400, {"error": 'POST /_sim/api-keys takes a JSON object {"provider": ..., "key": ...}'}
            )
        provider, key = body["provider"], body["key"]
        if not isinstance(provider, str) or self.backend.dialect(provider) is None:
            return SimResponse(
                400, {"error": f"unknown provider {provider!r}; mounted: {self.backend.providers}"}
            )
        problem = api_key_problem(key)
        if problem is not None:
            return SimResponse(400, {"error": f"key {problem}"})
        keys = self.backend.add_api_key(provider, cast(str, key))
        return SimResponse(200, {"provider": provider, "keys": cast(JSONValue, keys)})

    # -- served files -------------------------------------------------------------------------------
    def _serve_file(self, dialect: Dialect, request: SimRequest, log_provider: str) -> None:
        if request.method not in ("GET", "HEAD"):
            self._send_logged(log_provider, request, dialect.error(405, "Method not allowed"))
            return
        served = self.backend.served_file(unquote(request.full_path))
        if served is None:
            missing = "Output not found" if log_provider == OUTPUTS_LOG_PROVIDER else "File not found"
            self._send_logged(log_provider, request, dialect.error(404, missing))
            return
        size = served.size
        byte_range = _parse_range(request.headers.get("range"), size)
        if byte_range == "unsatisfiable":
            response = SimResponse(
                416, {"error": "range not satisfiable"}, {"Content-Range": f"bytes */{size}"}
            )
            self._send_logged(log_provider, request, response)
            return
        first, last = byte_range if byte_range is not None else (0, size - 1)
        length = max(0, last - first + 1)
        status = 206 if byte_range is not None else 200
        self._log(log_provider, request, status)

        self.send_response(status)
        self.send_header("Content-Type", served.content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if byte_range is not None:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        # cut_downloads concerns generated videos only: not last frames, not uploads.
        cut = (
            log_provider == OUTPUTS_LOG_PROVIDER
            and served.content_type == "video/mp4"
            and request.method == "GET"
            and self.backend.faults.take("cut_downloads")
        )
        if cut:
            # No "Connection: close" header: the client must learn of the cut the hard way, mid-body.
            self.close_connection = True
        self.end_headers()
        if request.method == "HEAD":
            return
        to_send = length // 2 if cut else length
        try:
            for chunk in _file_chunks(served.path, first, to_send):
                self.wfile.write(chunk)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- responses ------------------------------------------------------------------------------------
    def _send_logged(self, provider: str | None, request: SimRequest, response: SimResponse) -> None:
        self._log(provider, request, response.status)
        self._send(response)

    def _log(self, provider: str | None, request: SimRequest, status: int) -> None:
        self.backend.log_request(
            LoggedRequest(
                provider=provider,
                method=request.method,
                path=request.full_path,
                query=dict(request.query),
                headers=dict(request.headers),
                json=copy.deepcopy(request.json) if request.json_valid else None,
                status=status,
            )
        )

    def _send(self, response: SimResponse) -> None:
        if response.disconnect:
            # Nothing written: the client sees the connection end after it sent its request.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = json.dumps(response.body).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _parse_json(body: bytes) -> tuple[JSONValue, bool]:
    if not body:
        return None, True
    try:
        return cast(JSONValue, json.loads(body)), True
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None, False


def _parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """A single ``bytes=first-last`` / ``bytes=first-`` / ``bytes=-suffix`` range; None means whole file."""
    if header is None or not header.startswith("bytes=") or "," in header:
        return None
    first_text, _, last_text = header.removeprefix("bytes=").strip().partition("-")
    try:
        if not first_text:
            suffix = int(last_text)
            return (max(0, size - suffix), size - 1) if suffix > 0 else "unsatisfiable"
        first = int(first_text)
        last = min(int(last_text), size - 1) if last_text else size - 1
    except ValueError:
        return None
    return (first, last) if first <= last and first < size else "unsatisfiable"


def _file_chunks(path: Path, offset: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(offset)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(DOWNLOAD_CHUNK_BYTES, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


class ProviderSimulator:
    """Simulated video providers on one loopback HTTP server.

    >>> with ProviderSimulator() as sim:
    ...     base = sim.provider_base_url("eachlabs")   # what EACHLABS_BASE_URL points at

    `api_keys` replaces `DEFAULT_API_KEYS` as a whole: provider -> one key or a sequence of keys, all
    accepted; a provider without a key refuses every call. More keys can be added while running
    (`add_api_key`, ``POST /_sim/api-keys``). Jobs are counted per (provider, key): `usage`.
    `allow_loopback_media`: accept http(s) media URLs on a loopback host (e.g. the local stack's presigned
    moto S3 URLs) and fetch each once at create time; see the module docstring.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: ApiKeys | None = None,
        processing_seconds: float = 0.0,
        *,
        render_workers: int = 2,
        webhook_backoff_seconds: Sequence[float] = DEFAULT_WEBHOOK_BACKOFF_SECONDS,
        webhook_timeout_seconds: float = 30.0,
        media_cache_dir: Path | None = None,
        dialects: Sequence[Callable[[SimulatorBackend], Dialect]] | None = None,
        allow_loopback_media: bool = False,
    ) -> None:
        self._host = host
        self._port = port
        self._backend = SimulatorBackend(
            api_keys=DEFAULT_API_KEYS if api_keys is None else api_keys,
            processing_seconds=processing_seconds,
            render_workers=render_workers,
            webhook_backoff_seconds=webhook_backoff_seconds,
            webhook_timeout_seconds=webhook_timeout_seconds,
            media_cache_dir=media_cache_dir,
            allow_loopback_media=allow_loopback_media,
        )
        for make_dialect in _builtin_dialects() if dialects is None else dialects:
            self._backend.mount(make_dialect(self._backend))
        self._server: _SimulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    def start(self) -> Self:
        if self._server is not None:
            return self
        if self._stopped:
            raise RuntimeError("a stopped ProviderSimulator cannot be restarted; create a new one")
        self._server = _SimulatorHTTPServer((self._host, self._port), self._backend)
        bound_host, bound_port = self._server.server_address[:2]
        self._backend.base_url = f"http://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name="sim-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._backend.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._stopped = True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self._backend.base_url:
            raise RuntimeError("the simulator has not been started")
        return self._backend.base_url

    def provider_base_url(self, provider: str) -> str:
        if self._backend.dialect(provider) is None:
            raise KeyError(f"no simulated provider named {provider!r}; mounted: {self._backend.providers}")
        return f"{self.base_url}/{provider}"

    @property
    def providers(self) -> list[str]:
        return self._backend.providers

    @property
    def faults(self) -> SimulatorFaults:
        return self._backend.faults

    @property
    def allow_loopback_media(self) -> bool:
        return self._backend.allow_loopback_media

    @property
    def signing_keys(self) -> Ed25519KeyRing:
        """The Ed25519 keys that sign webhooks (Atlas Cloud); what the JWKS endpoints publish."""
        return self._backend.signing_keys

    def rotate_signing_key(self) -> str:
        """Same as ``POST /_sim/keys/rotate``: sign with a new key from now on; returns its kid."""
        return self._backend.signing_keys.rotate()

    def uploads(self) -> list[StoredUpload]:
        return self._backend.uploads()

    @property
    def api_keys(self) -> dict[str, list[str]]:
        """Provider -> the keys it accepts now (a copy); what ``GET /_sim/api-keys`` returns."""
        return self._backend.api_keys

    def add_api_key(self, provider: str, key: str) -> list[str]:
        """Same as ``POST /_sim/api-keys``: accept `key` for `provider` too; returns its keys. ValueError
        for an unknown provider or an unusable key."""
        return self._backend.add_api_key(provider, key)

    def usage(self) -> dict[str, dict[str, KeyUsage]]:
        """Same as ``GET /_sim/usage``: provider -> key -> ``{"active", "peak", "creates"}``."""
        return self._backend.usage()

    def reset_usage(self) -> dict[str, dict[str, KeyUsage]]:
        """Same as ``DELETE /_sim/usage``: peaks back to the active counts, creates to 0."""
        return self._backend.reset_usage()

    @property
    def processing_seconds(self) -> float:
        return self._backend.processing_seconds

    @processing_seconds.setter
    def processing_seconds(self, seconds: float) -> None:
        self._backend.processing_seconds = seconds

    @property
    def requests(self) -> list[LoggedRequest]:
        return self._backend.logged_requests()

    def requests_for(self, provider: str) -> list[LoggedRequest]:
        return self._backend.logged_requests(provider)

    def clear_requests(self) -> None:
        self._backend.clear_requests()

    def prediction(self, prediction_id: str) -> SimulatedJob | None:
        """A snapshot of the simulator's record; ``.to_json()`` is what GET /_sim/predictions/{id} returns."""
        return self._backend.job(prediction_id)

    def predictions(self) -> list[SimulatedJob]:
        return self._backend.jobs()

    def wait_for_prediction(
        self, prediction_id: str, *, timeout: float = 30.0, settled: bool = True
    ) -> SimulatedJob:
        """Block until the prediction finished and (if `settled`) its webhook delivery is over."""
        return self._backend.wait_for_job(prediction_id, timeout=timeout, settled=settled)


def _builtin_dialects() -> list[Callable[[SimulatorBackend], Dialect]]:
    # Deferred: the dialect modules import this one.
    from local.simulator.atlascloud import AtlasCloudDialect
    from local.simulator.eachlabs import EachLabsDialect
    from local.simulator.gateway import GatewayDialect
    from local.simulator.jobs_api import JobsApiDialect

    return [EachLabsDialect, AtlasCloudDialect, GatewayDialect, JobsApiDialect]
