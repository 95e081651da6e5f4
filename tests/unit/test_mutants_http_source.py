"""Survivors of `make mutate` in adapters/http_source.py: the size cap counts the whole body, a body of
exactly the cap is copied, the status decides between retry and refusal, and the bytes are asked for
uncompressed."""

from collections.abc import Iterator

import httpx
import pytest

from videojobs.adapters.http_source import HttpVideoSource
from videojobs.download_policy import HostAllowlist
from videojobs.errors import OutputRejected, TransferFailed

URL = "https://cdn.example.com/out.mp4"
POLICY = HostAllowlist(["cdn.example.com"])


def source(handler: httpx.MockTransport, max_bytes: int = 10) -> HttpVideoSource:
    return HttpVideoSource(httpx.Client(transport=handler), max_bytes=max_bytes, deadline_seconds=30)


def chunked(*chunks: bytes) -> httpx.MockTransport:
    def body() -> Iterator[bytes]:
        yield from chunks

    return httpx.MockTransport(lambda request: httpx.Response(200, content=body()))


def read(video: HttpVideoSource) -> bytes:
    with video.open(URL, POLICY) as download:
        return b"".join(download.chunks)


def test_the_cap_counts_every_chunk_not_the_largest() -> None:
    # Given a body of 12 bytes in chunks of 4, under a cap of 10
    with pytest.raises(OutputRejected):
        read(source(chunked(b"a" * 4, b"b" * 4, b"c" * 4)))


def test_a_body_of_exactly_the_cap_is_copied() -> None:
    assert read(source(chunked(b"a" * 4, b"b" * 6))) == b"a" * 4 + b"b" * 6


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, TransferFailed), (429, TransferFailed), (404, OutputRejected), (403, OutputRejected)],
)
def test_a_status_another_attempt_may_fix_is_retried_and_any_other_refused(
    status: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        read(source(httpx.MockTransport(lambda request: httpx.Response(status))))


def test_the_output_is_asked_for_uncompressed() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"mp4")

    read(source(httpx.MockTransport(handle)))

    assert (seen[0].method, seen[0].headers["accept-encoding"]) == ("GET", "identity")


@pytest.mark.parametrize(("max_bytes", "deadline"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_a_cap_or_deadline_that_is_not_positive_is_refused(max_bytes: int, deadline: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        HttpVideoSource(httpx.Client(), max_bytes=max_bytes, deadline_seconds=deadline)


def test_a_cap_of_one_byte_is_allowed() -> None:
    assert read(source(chunked(b"a"), max_bytes=1)) == b"a"
