"""The provider simulator's core: HTTP server, routing, job registry, request log, faults, webhooks, outputs.

Every provider dialect is mounted under a path prefix named after the provider (``/eachlabs/...``) and is
a `Dialect` subclass that only parses its own wire format; everything stateful lives here.

Routes
------
``/{provider}/outputs/{job_id}.mp4``  GET/HEAD: the generated MP4 (single ``Range: bytes=`` ranges honoured).
``/{provider}/...``                   handed to that provider's dialect.
``/_sim/health``                      GET: liveness and mounted providers.
``/_sim/requests``                    GET: the request log (``?provider=`` filters); DELETE clears it.
``/_sim/faults``                      GET; POST merges a JSON object into the knobs; DELETE resets them.
``/_sim/predictions``                 GET: every job record.
``/_sim/predictions/{job_id}``        GET: one job record (status, output URL/sha256/size, request, webhook).

Request log
-----------
Each entry: ``provider``, ``method``, ``path`` (full path, prefix included), ``query`` (last value per
key), ``headers`` (lower-case keys), ``json`` (parsed body or None) and ``status``. Dialect calls are
logged with the provider name; output downloads with provider ``"outputs"``; requests to unknown
prefixes with provider None. Control-plane (``/_sim``) requests are never logged.

Job records use the simulator's own status words: ``processing``, ``succeeded``, ``failed``; each dialect
translates them into its wire vocabulary.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
import socket
import ssl
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Literal, Self, TypedDict, cast
from urllib.parse import parse_qsl, urlsplit

import httpx

from local.simulator.media import ClipCache, ClipSpec

logger = logging.getLogger(__name__)

type JSONValue = None | bool | int | float | str | list[JSONValue] | dict[str, JSONValue]
type JSONObject = dict[str, JSONValue]

CONTROL_PREFIX = "_sim"
OUTPUTS_LOG_PROVIDER = "outputs"
DEFAULT_API_KEYS: Mapping[str, str] = {"eachlabs": "sim-eachlabs-key"}
DEFAULT_WEBHOOK_BACKOFF_SECONDS = (0.2, 0.5, 1.0)
DOWNLOAD_CHUNK_BYTES = 256 * 1024


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


@dataclass(frozen=True)
class SimResponse:
    status: int
    body: JSONValue
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutgoingWebhook:
    url: str
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class DeliveryAttempt:
    copy: int
    attempt: int
    url: str
    status_code: int | None
    error: str | None
    sent_at: float


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
    created_at: float = field(default_factory=time.time)
    status: JobStatus = JobStatus.PROCESSING
    completed_at: float | None = None
    output_url: str | None = None
    output_path: Path | None = None
    output_sha256: str | None = None
    output_size: int | None = None
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
            "error": self.error,
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
                    }
                    for attempt in self.webhook_attempts
                ],
            },
        }


type FaultCounter = Literal["cut_downloads", "fail_predictions", "drop_webhooks"]
_WHOLE_NUMBER_KNOBS = ("cut_downloads", "duplicate_webhooks", "fail_predictions", "drop_webhooks")
FAULT_KNOBS = (*_WHOLE_NUMBER_KNOBS, "webhook_delay_seconds", "reject_creates_with_status")


@dataclass
class SimulatorFaults:
    """Fault knobs. Counters are consumed one per use; the others persist until changed."""

    cut_downloads: int = 0
    duplicate_webhooks: int = 0
    fail_predictions: int = 0
    drop_webhooks: int = 0
    webhook_delay_seconds: float = 0.0
    reject_creates_with_status: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def take(self, counter: FaultCounter) -> bool:
        with self._lock:
            remaining: int = getattr(self, counter)
            if remaining <= 0:
                return False
            setattr(self, counter, remaining - 1)
            return True

    def take_create_rejection(self) -> int | None:
        with self._lock:
            status, self.reject_creates_with_status = self.reject_creates_with_status, None
            return status

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
        with self._lock:
            for name, value in updates.items():
                setattr(self, name, value)


def _validated_knob(name: str, value: JSONValue) -> int | float | None:
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    if name in _WHOLE_NUMBER_KNOBS:
        if not is_integer or cast(int, value) < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return cast(int, value)
    if name == "webhook_delay_seconds":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{name} must be a non-negative number")
        return float(value)
    if name == "reject_creates_with_status":
        if value is None:
            return None
        if not is_integer or not 400 <= cast(int, value) <= 599:
            raise ValueError(f"{name} must be null or an HTTP error status (400-599)")
        return cast(int, value)
    raise ValueError(f"unknown fault knob {name!r}")


class Dialect(ABC):
    """One provider's wire format, mounted at ``/{provider}``."""

    provider: ClassVar[str]

    def __init__(self, backend: SimulatorBackend) -> None:
        self.backend = backend

    @abstractmethod
    def handle(self, request: SimRequest) -> SimResponse: ...

    @abstractmethod
    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        """An error response in this provider's error body shape."""

    @abstractmethod
    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        """The notification to send once `job` has finished, or None if the caller asked for none."""


class SimulatorBackend:
    """Jobs, their workers, the clip cache and webhook delivery; shared by every dialect."""

    def __init__(
        self,
        *,
        api_keys: Mapping[str, str],
        processing_seconds: float,
        render_workers: int,
        webhook_backoff_seconds: Sequence[float],
        webhook_timeout_seconds: float,
        media_cache_dir: Path | None,
    ) -> None:
        self.api_keys = dict(api_keys)
        self.processing_seconds = processing_seconds
        self.faults = SimulatorFaults()
        self.base_url = ""
        self._webhook_backoff = tuple(webhook_backoff_seconds)
        self._clips = ClipCache(media_cache_dir)
        self._dialects: dict[str, Dialect] = {}
        self._jobs: dict[str, SimulatedJob] = {}
        self._log: list[LoggedRequest] = []
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._renderers = ThreadPoolExecutor(max_workers=render_workers, thread_name_prefix="sim-render")
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

    # -- jobs -----------------------------------------------------------------------------------------
    def submit(
        self, *, job_id: str, provider: str, request: JSONObject, clip: ClipSpec, webhook_url: str | None
    ) -> SimulatedJob:
        job = SimulatedJob(
            id=job_id,
            provider=provider,
            request=copy.deepcopy(request),
            clip=clip,
            webhook_url=webhook_url,
            processing_seconds=self.processing_seconds,
            fail_planned=self.faults.take("fail_predictions"),
            drop_webhook=webhook_url is not None and self.faults.take("drop_webhooks"),
            webhook_state=WebhookState.PENDING if webhook_url else WebhookState.NONE,
        )
        with self._changed:
            self._jobs[job_id] = job
            snapshot = copy.deepcopy(job)
        self._renderers.submit(self._run_job, job_id)
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
            change(job)
            self._changed.notify_all()
            return copy.deepcopy(job)

    def _run_job(self, job_id: str) -> None:
        try:
            self._complete_job(job_id)
        except Exception:
            logger.exception("simulated job crashed", extra={"job_id": job_id})

    def _complete_job(self, job_id: str) -> None:
        job = self.job(job_id)
        if job is None or self._stopping.wait(job.processing_seconds):
            return
        if job.fail_planned:
            finished = self._update(
                job_id, _mark_failed("Simulated generation failure (fail_predictions fault)")
            )
        else:
            try:
                clip = self._clips.get(job.clip)
            except Exception as exc:
                if self._stopping.is_set():
                    return  # the clip directory was removed under us by close()
                logger.exception("rendering the simulated clip failed", extra={"job_id": job_id})
                finished = self._update(job_id, _mark_failed(f"Rendering failed: {type(exc).__name__}"))
            else:
                output_url = self.output_url(job.provider, job_id)

                def succeed(record: SimulatedJob) -> None:
                    record.status = JobStatus.SUCCEEDED
                    record.completed_at = time.time()
                    record.output_url = output_url
                    record.output_path = clip.path
                    record.output_sha256 = clip.sha256
                    record.output_size = clip.size

                finished = self._update(job_id, succeed)

        dialect = self._dialects[finished.provider]
        webhook = dialect.webhook_for(finished) if finished.webhook_url else None
        if webhook is None:
            self._update(job_id, _set_webhook_state(WebhookState.NONE))
        elif not self._stopping.is_set():
            # close() may shut the pool between the check and the submit.
            with contextlib.suppress(RuntimeError):
                self._notifiers.submit(self._notify, job_id, webhook, finished.drop_webhook)

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
            try:
                response = self._http.post(webhook.url, content=webhook.body, headers=dict(webhook.headers))
                status_code = response.status_code
            except (httpx.HTTPError, RuntimeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            self._update(
                job_id,
                _append_attempt(
                    DeliveryAttempt(copy_number, attempt, webhook.url, status_code, error, sent_at)
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
        self._renderers.shutdown(wait=False, cancel_futures=True)
        self._notifiers.shutdown(wait=False, cancel_futures=True)
        self._http.close()
        self._clips.close()


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
        body = self._read_body(headers)
        if body is None:
            return
        parsed, json_valid = _parse_json(body)
        segments = split.path.split("/", 2)
        prefix = segments[1] if len(segments) > 1 else ""
        rest = "/" + segments[2] if len(segments) > 2 else "/"
        request = SimRequest(self.command, rest, split.path, query, headers, body, parsed, json_valid)

        if prefix == CONTROL_PREFIX:
            self._send(self._control(request))
            return
        dialect = self.backend.dialect(prefix)
        if dialect is None:
            response = SimResponse(404, {"error": f"no simulated provider is mounted at /{prefix}"})
            self._send_logged(None, request, response)
            return
        if rest.startswith("/outputs/"):
            self._serve_output(dialect, request)
            return
        try:
            response = dialect.handle(request)
        except Exception:
            logger.exception("dialect crashed", extra={"provider": dialect.provider, "path": split.path})
            response = dialect.error(
                500, "Internal server error", "The simulator failed to handle the request"
            )
        self._send_logged(dialect.provider, request, response)

    def _read_body(self, headers: Mapping[str, str]) -> bytes | None:
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
        return SimResponse(404, {"error": f"no control-plane route {request.method} /_sim{request.path}"})

    # -- outputs --------------------------------------------------------------------------------------
    def _serve_output(self, dialect: Dialect, request: SimRequest) -> None:
        name = request.path.removeprefix("/outputs/")
        job_id = name.removesuffix(".mp4")
        job = self.backend.job(job_id, dialect.provider) if name.endswith(".mp4") else None
        if request.method not in ("GET", "HEAD"):
            self._send_logged(OUTPUTS_LOG_PROVIDER, request, dialect.error(405, "Method not allowed"))
            return
        if job is None or job.output_path is None or job.output_size is None:
            self._send_logged(OUTPUTS_LOG_PROVIDER, request, dialect.error(404, "Output not found"))
            return
        size = job.output_size
        byte_range = _parse_range(request.headers.get("range"), size)
        if byte_range == "unsatisfiable":
            response = SimResponse(
                416, {"error": "range not satisfiable"}, {"Content-Range": f"bytes */{size}"}
            )
            self._send_logged(OUTPUTS_LOG_PROVIDER, request, response)
            return
        first, last = byte_range if byte_range is not None else (0, size - 1)
        length = last - first + 1
        status = 206 if byte_range is not None else 200
        self._log(OUTPUTS_LOG_PROVIDER, request, status)

        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if byte_range is not None:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        cut = request.method == "GET" and self.backend.faults.take("cut_downloads")
        if cut:
            # No "Connection: close" header: the client must learn of the cut the hard way, mid-body.
            self.close_connection = True
        self.end_headers()
        if request.method == "HEAD":
            return
        to_send = length // 2 if cut else length
        try:
            for chunk in _file_chunks(job.output_path, first, to_send):
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
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Mapping[str, str] | None = None,
        processing_seconds: float = 0.0,
        *,
        render_workers: int = 2,
        webhook_backoff_seconds: Sequence[float] = DEFAULT_WEBHOOK_BACKOFF_SECONDS,
        webhook_timeout_seconds: float = 30.0,
        media_cache_dir: Path | None = None,
        dialects: Sequence[Callable[[SimulatorBackend], Dialect]] | None = None,
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
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="sim-http", daemon=True
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
    from local.simulator.eachlabs import EachLabsDialect

    return [EachLabsDialect]
