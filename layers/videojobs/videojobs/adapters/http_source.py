"""VideoSource over HTTP: a streamed GET that checks every redirect hop against the policy, with a
size cap and one deadline for the whole download.

Give it a client from ``pinned_http.pinned_client``: then every hop's host is resolved once, refused
if any of its addresses is not public (loopback only in local mode), and connected to at the address
that was checked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

import httpx

from videojobs.adapters.pinned_http import DEADLINE, AddressRefused
from videojobs.errors import OutputRejected, TransferFailed
from videojobs.ports import Download, DownloadPolicy

MAX_REDIRECTS = 3
#: Answers that another attempt may turn into a 200; any other non-200 is final (expired URL...).
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
#: The defaults of MAX_VIDEO_BYTES and TRANSFER_DEADLINE_SECONDS.
DEFAULT_MAX_BYTES = 2048 * 1024 * 1024
DEFAULT_DEADLINE_SECONDS = 270.0


class HttpVideoSource:
    """``max_bytes``: a larger Content-Length is refused before the body is read, and a body is
    stopped as soon as it has passed it (OutputRejected). ``deadline_seconds``: from ``open`` to the
    last byte, redirects included (TransferFailed)."""

    def __init__(
        self,
        client: httpx.Client,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
    ) -> None:
        if max_bytes < 1 or deadline_seconds <= 0:
            raise ValueError("max_bytes and deadline_seconds must be positive")
        self._client = client
        self._max_bytes = max_bytes
        self._deadline_seconds = deadline_seconds

    @contextmanager
    def open(self, url: str, policy: DownloadPolicy) -> Iterator[Download]:
        deadline = time.monotonic() + self._deadline_seconds
        response = self._follow(url, policy, deadline)
        try:
            header = response.headers.get("content-length")
            length = int(header) if header and header.isdigit() else None
            if length is not None and length > self._max_bytes:
                raise OutputRejected(f"output is {length} bytes; at most {self._max_bytes} are copied")
            yield Download(
                content_type=response.headers.get("content-type"),
                content_length=length,
                chunks=self._chunks(response, deadline),
            )
        finally:
            response.close()

    def _follow(self, url: str, policy: DownloadPolicy, deadline: float) -> httpx.Response:
        for _ in range(MAX_REDIRECTS + 1):
            policy.check(url)
            response = self._send(url, deadline)
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                response.close()
                continue
            if response.status_code == 200:
                return response
            response.close()
            if response.status_code in RETRYABLE_STATUS:
                raise TransferFailed(f"download answered HTTP {response.status_code}")
            raise OutputRejected(f"download answered HTTP {response.status_code}")
        raise OutputRejected(f"more than {MAX_REDIRECTS} redirects")

    def _send(self, url: str, deadline: float) -> httpx.Response:
        left = deadline - time.monotonic()
        if left <= 0:
            raise self._past_deadline()
        # A pinned client cuts every read to the time left; any other client gets the time left as
        # its timeouts, and _chunks checks the deadline between chunks.
        timeout = self._client.timeout
        request = self._client.build_request(
            "GET",
            url,
            # The bytes stored are the bytes sent: no compression, so Content-Length is what we count.
            headers={"accept-encoding": "identity"},
            timeout=httpx.Timeout(
                connect=_at_most(timeout.connect, left),
                read=_at_most(timeout.read, left),
                write=_at_most(timeout.write, left),
                pool=_at_most(timeout.pool, left),
            ),
            extensions={DEADLINE: deadline},
        )
        try:
            return self._client.send(request, stream=True, follow_redirects=False)
        except AddressRefused as refused:
            raise OutputRejected(f"output URL refused: {refused}") from refused
        except httpx.TimeoutException as error:
            if time.monotonic() >= deadline:
                raise self._past_deadline() from error
            raise TransferFailed(f"download failed: {type(error).__name__}: {error}") from error
        except httpx.HTTPError as error:
            raise TransferFailed(f"download failed: {type(error).__name__}: {error}") from error

    def _chunks(self, response: httpx.Response, deadline: float) -> Iterator[bytes]:
        received = 0
        try:
            # No chunk size: each piece as it comes off the socket, so the count is never behind.
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > self._max_bytes:
                    raise OutputRejected(f"output is over {self._max_bytes} bytes; stopped there")
                if time.monotonic() > deadline:
                    raise self._past_deadline()
                yield chunk
        except httpx.TimeoutException as error:
            if time.monotonic() >= deadline:
                raise self._past_deadline() from error
            raise TransferFailed(f"download cut: {type(error).__name__}: {error}") from error
        except httpx.HTTPError as error:
            raise TransferFailed(f"download cut: {type(error).__name__}: {error}") from error

    def _past_deadline(self) -> TransferFailed:
        return TransferFailed(f"download took longer than {self._deadline_seconds:g} s")


def _at_most(timeout: float | None, left: float) -> float:
    return left if timeout is None else min(timeout, left)
