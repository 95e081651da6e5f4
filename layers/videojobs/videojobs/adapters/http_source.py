"""VideoSource over HTTP: a streamed GET that checks every redirect hop against the policy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

import httpx

from videojobs.errors import OutputRejected, TransferFailed
from videojobs.ports import Download, DownloadPolicy

CHUNK_SIZE = 1024 * 1024
MAX_REDIRECTS = 3
#: Answers that another attempt may turn into a 200; any other non-200 is final (expired URL...).
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpVideoSource:
    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    @contextmanager
    def open(self, url: str, policy: DownloadPolicy) -> Iterator[Download]:
        response = self._follow(url, policy)
        try:
            length = response.headers.get("content-length")
            yield Download(
                content_type=response.headers.get("content-type"),
                content_length=int(length) if length and length.isdigit() else None,
                chunks=self._chunks(response),
            )
        finally:
            response.close()

    def _follow(self, url: str, policy: DownloadPolicy) -> httpx.Response:
        for _ in range(MAX_REDIRECTS + 1):
            policy.check(url)
            try:
                response = self._client.send(self._client.build_request("GET", url), stream=True)
            except httpx.HTTPError as error:
                raise TransferFailed(f"download failed: {type(error).__name__}: {error}") from error
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

    @staticmethod
    def _chunks(response: httpx.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(CHUNK_SIZE)
        except httpx.HTTPError as error:
            raise TransferFailed(f"download cut: {type(error).__name__}: {error}") from error
