"""The provider simulator's HTTP side: the request handler (routing to dialects, served files, the
``/_sim`` control plane) and the `ProviderSimulator` facade that owns the server and the backend.

Every provider dialect is mounted under a path prefix named after the provider (``/eachlabs/...``) and is
a `Dialect` subclass that only parses its own wire format; everything stateful lives in the backend.

Routes
------
``/{provider}/outputs/{job_id}.mp4``         GET/HEAD: the generated MP4 (single ``Range: bytes=`` ranges;
                                             the ``cut_downloads`` and ``short_mdat_downloads`` faults).
``/{provider}/outputs/{job_id}-last.png``    GET/HEAD: the clip's last frame, when the dialect asked for it.
``/{provider}/{uploads_route}/{id}/{name}``  GET/HEAD: a file uploaded through that dialect (no auth).
``/{provider}/...``                          handed to that provider's dialect.
``/_sim/health``                             GET: liveness and mounted providers.
``/_sim/requests``                           GET: the request log (``?provider=`` filters); DELETE clears it.
``/_sim/faults``                             GET; POST merges a JSON object into the knobs; DELETE resets.
``/_sim/predictions``                        GET: every job record.
``/_sim/predictions/{job_id}``               GET: one job record (status, output, request, webhook).
``/_sim/uploads``                            GET: every stored upload (id, provider, file name, size, URL).
``/_sim/keys/rotate``                        POST: a new key in every Ed25519 key ring; ``{"kid": <the
                                             shared ring's new kid>}``.
``/_sim/api-keys``                           GET: ``{provider: [accepted keys]}``; POST
                                             ``{"provider", "key"}`` accepts one more key (400: unknown
                                             provider, empty key); answers ``{"provider", "keys"}``.
``/_sim/usage``                              GET: ``{provider: {key: {"active", "peak", "creates"}}}``;
                                             DELETE: peaks back to the active counts, creates to 0.

Request log
-----------
Each entry: ``provider``, ``method``, ``path`` (full path, prefix included), ``query`` (last value per
key), ``headers`` (lower-case keys), ``json`` (parsed body or None) and ``status``. Dialect calls are
logged with the provider name; output and last-frame downloads with provider ``"outputs"``; upload
downloads with provider ``"uploads"``; requests to unknown prefixes with provider None. Control-plane
(``/_sim``) requests are never logged.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from local.simulator.backend import (
    DEFAULT_KEY_RING,
    DEFAULT_WEBHOOK_BACKOFF_SECONDS,
    ApiKeys,
    SimulatorBackend,
    api_key_problem,
)
from local.simulator.dialects import BUILTIN_DIALECTS, DEFAULT_API_KEYS
from local.simulator.faults import SimulatorFaults
from local.simulator.protocol import (
    Dialect,
    Host,
    JSONValue,
    KeyUsage,
    LoggedRequest,
    SimRequest,
    SimResponse,
    SimulatedJob,
    StoredUpload,
)
from local.simulator.signing import Ed25519KeyRing

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "_sim"
OUTPUTS_LOG_PROVIDER = "outputs"
UPLOADS_LOG_PROVIDER = "uploads"
DOWNLOAD_CHUNK_BYTES = 256 * 1024
MAX_REQUEST_BODY_BYTES = 64 * 1024 * 1024


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
                return SimResponse(200, {"kid": backend.rotate_key_rings()[DEFAULT_KEY_RING]})
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
        # Only a generated video has a clip: short_mdat_downloads passes over last frames and uploads.
        if (
            served.clip is not None
            and request.method == "GET"
            and self.backend.faults.take("short_mdat_downloads")
        ):
            served = self.backend.short_mdat_video(served.clip)
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
                answered_at=time.time(),
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
    moto S3 URLs) and fetch each once at create time; see the module docstring. `queue_seconds`: each new
    job stays ``queued`` that long before it starts processing (default 0: it starts at once); the
    ``hold_in_queue`` fault holds jobs queued until it is switched off. `signing_seed`: the webhook
    signing keys and Replicate's account secret are derived from it, the same at every start (the local
    stack's, so that `make events` can sign samples it accepts); None: random ones.
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
        dialects: Sequence[Callable[[Host], Dialect]] | None = None,
        allow_loopback_media: bool = False,
        queue_seconds: float = 0.0,
        signing_seed: bytes | None = None,
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
            queue_seconds=queue_seconds,
            signing_seed=signing_seed,
        )
        for make_dialect in BUILTIN_DIALECTS if dialects is None else dialects:
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
            if not self._stopped:  # never started: its backend (a clip cache, thread pools) is let go
                self._backend.close()
                self._stopped = True
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

    def pipeline_settings(self, provider: str, *, simulator_url: str | None = None) -> dict[str, str]:
        """The settings that point the pipeline at `provider` here: ``<NAME>_BASE_URL`` and whatever else
        its dialect names (`Dialect.pipeline_settings`). `simulator_url`: where the pipeline reaches the
        simulator, if not at its own address (a container reaches the host at ``host.docker.internal``);
        then it need not be started."""
        dialect = self._backend.dialect(provider)
        if dialect is None:
            raise KeyError(f"no simulated provider named {provider!r}; mounted: {self._backend.providers}")
        base_url = f"{simulator_url or self.base_url}/{provider}"
        return {f"{provider.upper()}_BASE_URL": base_url, **dialect.pipeline_settings(base_url)}

    @property
    def providers(self) -> list[str]:
        return self._backend.providers

    def dialect(self, provider: str) -> Dialect | None:
        """The dialect mounted at `/provider` (Replicate's holds its account secret), or None."""
        return self._backend.dialect(provider)

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

    def key_ring(self, name: str) -> Ed25519KeyRing:
        """The key ring called `name` (a dialect's own ring is named after its provider)."""
        return self._backend.key_ring(name)

    def rotate_signing_key(self) -> str:
        """Same as ``POST /_sim/keys/rotate``: every ring signs with a new key from now on; returns the
        shared ring's new kid."""
        return self._backend.rotate_key_rings()[DEFAULT_KEY_RING]

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
    def queue_seconds(self) -> float:
        """How long each new job stays ``queued`` before it starts processing (0: it starts at once)."""
        return self._backend.queue_seconds

    @queue_seconds.setter
    def queue_seconds(self, seconds: float) -> None:
        self._backend.queue_seconds = seconds

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
