"""Helpers for tests against the simulator: a loopback HTTP peer, bounded polling, MP4 facts.

>>> with LoopbackPeer() as peer:
...     peer.files["/frame.png"] = png_bytes        # GET {peer.url}/frame.png answers these bytes
...     peer.post_statuses = [500]                   # the first POST gets a 500, later ones 200
...     calls = peer.wait_for(1)                     # the POSTs received, in arrival order
"""

from __future__ import annotations

import io
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import av
import httpx

from local.simulator.server import ProviderSimulator

QUICK_WEBHOOK_BACKOFF_SECONDS = (0.05, 0.05, 0.05)
_TLS = ssl.create_default_context()  # loading the CA bundle is most of an httpx.Client's cost: once


def quick_simulator(media_cache_dir: Path, **options: Any) -> ProviderSimulator:
    """A simulator (not started; use it as a context manager) with quick webhook retries, for tests.

    Sharing `media_cache_dir` between simulators renders each distinct clip once."""
    options.setdefault("webhook_backoff_seconds", QUICK_WEBHOOK_BACKOFF_SECONDS)
    options.setdefault("webhook_timeout_seconds", 5.0)
    return ProviderSimulator(media_cache_dir=media_cache_dir, **options)


def client(base_url: str = "", *, bearer: str | None = None) -> httpx.Client:
    """An httpx client with a 10 s timeout, optionally sending ``Authorization: Bearer <bearer>``."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=10.0, verify=_TLS)


def poll[T](read: Callable[[], T], until: Callable[[T], bool], *, timeout: float = 20.0) -> T:
    """Call `read` every 50 ms until `until` holds for its answer; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read()
        if until(answer):
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"still not there after {timeout}s: {answer!r}")
        time.sleep(0.05)


@dataclass(frozen=True)
class VideoFacts:
    brand: bytes
    width: int
    height: int
    duration_seconds: float
    codecs: frozenset[str]


def video_facts(content: bytes) -> VideoFacts:
    """What an MP4 really holds, read with PyAV (``brand`` is bytes 4-8: ``b"ftyp"`` for an MP4)."""
    with av.open(io.BytesIO(content), mode="r") as container:
        video = container.streams.video[0]
        duration = (container.duration or 0) / av.time_base
        return VideoFacts(
            brand=content[4:8],
            width=video.codec_context.width,
            height=video.codec_context.height,
            duration_seconds=duration,
            codecs=frozenset(stream.codec_context.name for stream in container.streams),
        )


@dataclass(frozen=True)
class ReceivedCall:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    arrived_at: float

    def json(self) -> Any:
        return json.loads(self.body)


class LoopbackPeer:
    """Records every request. POSTs are answered with `post_statuses` in turn, then 200; GETs with
    `files[path]` (200) or 404 when the path has no file."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.post_statuses: list[int] = []
        self.received: list[ReceivedCall] = []
        self._condition = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="loopback-peer",
            daemon=True,
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def calls(self, method: str | None = None) -> list[ReceivedCall]:
        with self._condition:
            return [call for call in self.received if method is None or call.method == method]

    def wait_for(self, count: int, *, method: str = "POST", timeout: float = 10.0) -> list[ReceivedCall]:
        """The first `count` calls of `method`; AssertionError if they have not all arrived by `timeout`."""
        with self._condition:
            arrived = self._condition.wait_for(lambda: len(self._of(method)) >= count, timeout=timeout)
            calls = self._of(method)
        if not arrived:
            raise AssertionError(f"expected {count} {method} calls within {timeout}s, got {len(calls)}")
        return calls

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _of(self, method: str) -> list[ReceivedCall]:
        return [call for call in self.received if call.method == method]

    def _record(self, call: ReceivedCall, answer: Callable[[], tuple[int, bytes]]) -> tuple[int, bytes]:
        with self._condition:
            status, body = answer()
            self.received.append(call)
            self._condition.notify_all()
        return status, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                def answer() -> tuple[int, bytes]:
                    content = peer.files.get(self.path)
                    return (404, b"") if content is None else (200, content)

                self._respond(answer)

            def do_POST(self) -> None:
                def answer() -> tuple[int, bytes]:
                    return (peer.post_statuses.pop(0) if peer.post_statuses else 200), b""

                self._respond(answer)

            def _respond(self, answer: Callable[[], tuple[int, bytes]]) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or "0"))
                headers = {name.lower(): value for name, value in self.headers.items()}
                call = ReceivedCall(self.command, self.path, headers, body, time.monotonic())
                status, content = peer._record(call, answer)
                self.send_response(status)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

        return Handler
