"""Survivors of `make mutate` in adapters/http_source.py: a body over the cap is stopped while it is
streamed, each timeout of a hop is the time left when that is smaller, every hop carries the one
deadline of the whole download, the deadline's edges, and the redirects followed.

At the HTTP boundary (httpx.MockTransport) with ``http_source``'s clock frozen: the handlers and the
bodies move it by the time a hop or a chunk is scripted to take, so the edges (exactly at the
deadline) are seen and nothing sleeps.

The survivors left are equivalent (no test can tell them from the code): ``"LOCATION"`` for
``"location"`` and ``"ACCEPT-ENCODING"`` for ``"accept-encoding"`` (httpx's headers ignore case, and so
does HTTP), ``"get"`` for ``"GET"`` (httpx upper-cases the method), and ``follow_redirects=None`` in
``send`` (an explicit None overrides the client's default as False does, and is as false where httpx
decides).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from videojobs.adapters import http_source
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.adapters.pinned_http import DEADLINE
from videojobs.download_policy import HostAllowlist
from videojobs.errors import OutputRejected, TransferFailed

NOW = 5000.0
DEADLINE_SECONDS = 30.0
FIRST_HOP = "https://cdn.example.com/out.mp4"
SECOND_HOP = "https://cdn.example.com/moved.mp4"
POLICY = HostAllowlist(["cdn.example.com"])


@dataclass
class FrozenClock:
    """``http_source``'s ``time``: monotonic() stands still until a handler or a body moves it."""

    now: float = NOW

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock()
    monkeypatch.setattr(http_source, "time", frozen)
    return frozen


class Cdn:
    """Answers ``FIRST_HOP`` with a redirect to ``SECOND_HOP`` when ``redirect``, anything else with
    ``body``; records each request and moves the clock by ``takes`` seconds per request."""

    def __init__(
        self,
        clock: FrozenClock,
        *,
        redirect: bool = False,
        takes: float = 0.0,
        body: Callable[[], Iterator[bytes]] | None = None,
    ) -> None:
        self.clock = clock
        self.redirect = redirect
        self.takes = takes
        self.body = body or (lambda: iter([b"mp4"]))
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.clock.now += self.takes
        if self.redirect and str(request.url) == FIRST_HOP:
            return httpx.Response(302, headers={"location": SECOND_HOP})
        return httpx.Response(200, content=self.body())

    def source(self, *, timeout: httpx.Timeout | None = None, max_bytes: int = 1024) -> HttpVideoSource:
        client = httpx.Client(
            transport=httpx.MockTransport(self.handle), timeout=timeout or httpx.Timeout(5.0)
        )
        return HttpVideoSource(client, max_bytes=max_bytes, deadline_seconds=DEADLINE_SECONDS)

    def timeouts(self) -> list[dict[str, float | None]]:
        return [request.extensions["timeout"] for request in self.requests]


def read(source: HttpVideoSource) -> bytes:
    with source.open(FIRST_HOP, POLICY) as download:
        return b"".join(download.chunks)


# -- the size cap works on the stream, not on a body already read --------------------------------------
def test_a_body_over_the_cap_is_refused_before_it_is_read_to_the_end(clock: FrozenClock) -> None:
    # Given a body of a thousand 4-byte chunks and no Content-Length, under a cap of 10 bytes
    pulled: list[bytes] = []

    def endless() -> Iterator[bytes]:
        for _ in range(1000):
            pulled.append(b"abcd")
            yield b"abcd"

    # When it is downloaded, then the copy stops at the third chunk, not after the last
    with pytest.raises(OutputRejected):
        read(Cdn(clock, body=endless).source(max_bytes=10))

    assert len(pulled) == 3


# -- each timeout is the time left when that is smaller ------------------------------------------------
@pytest.mark.parametrize(
    ("client_timeout", "expected"),
    [
        (
            httpx.Timeout(connect=5.0, read=60.0, write=7.0, pool=100.0),
            {"connect": 5.0, "read": 30.0, "write": 7.0, "pool": 30.0},
        ),
        (
            httpx.Timeout(connect=90.0, read=1.0, write=45.0, pool=2.0),
            {"connect": 30.0, "read": 1.0, "write": 30.0, "pool": 2.0},
        ),
        (httpx.Timeout(None), {"connect": 30.0, "read": 30.0, "write": 30.0, "pool": 30.0}),
    ],
    ids=["connect and write shorter", "read and pool shorter", "no timeouts"],
)
def test_each_timeout_of_a_request_is_the_time_left_when_that_is_smaller(
    client_timeout: httpx.Timeout, expected: dict[str, float], clock: FrozenClock
) -> None:
    cdn = Cdn(clock)

    read(cdn.source(timeout=client_timeout))

    assert cdn.timeouts() == [expected]


def test_a_redirect_hop_gets_only_the_time_the_hops_before_it_left(clock: FrozenClock) -> None:
    # Given a first hop that takes 10 of the 30 seconds
    cdn = Cdn(clock, redirect=True, takes=10.0)

    read(cdn.source(timeout=httpx.Timeout(25.0)))

    assert [timeouts["read"] for timeouts in cdn.timeouts()] == [25.0, 20.0]


def test_every_hop_carries_the_one_deadline_of_the_whole_download(clock: FrozenClock) -> None:
    # The pinned transport cuts every read to it; a hop may not start a deadline of its own.
    cdn = Cdn(clock, redirect=True, takes=10.0)

    read(cdn.source())

    assert [request.extensions[DEADLINE] for request in cdn.requests] == [NOW + DEADLINE_SECONDS] * 2


# -- the deadline's edges ------------------------------------------------------------------------------
def test_a_hop_due_when_no_time_is_left_is_not_requested(clock: FrozenClock) -> None:
    # Given a first hop that takes the whole 30 seconds and redirects
    cdn = Cdn(clock, redirect=True, takes=DEADLINE_SECONDS)

    with pytest.raises(TransferFailed):
        read(cdn.source())

    assert [str(request.url) for request in cdn.requests] == [FIRST_HOP]


def test_a_chunk_that_arrives_at_the_deadline_itself_is_copied(clock: FrozenClock) -> None:
    def at_the_deadline() -> Iterator[bytes]:
        clock.now = NOW + DEADLINE_SECONDS
        yield b"mp4"

    assert read(Cdn(clock, body=at_the_deadline).source()) == b"mp4"


def test_a_chunk_that_arrives_after_the_deadline_stops_the_copy(clock: FrozenClock) -> None:
    def late() -> Iterator[bytes]:
        yield b"mp"
        clock.now = NOW + DEADLINE_SECONDS + 0.001
        yield b"4"

    with pytest.raises(TransferFailed):
        read(Cdn(clock, body=late).source())


# -- a timeout at the deadline is reported as the deadline ---------------------------------------------
# TransferFailed's text is the job's transfer_error: it tells the operator whether the whole download
# was too slow (the deadline) or one read stalled under it (a timeout before the deadline).
def timing_out_at(clock: FrozenClock, moment: float) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        clock.now = moment
        raise httpx.ReadTimeout("timed out", request=request)

    return handle


def raising_in_the_body_at(clock: FrozenClock, moment: float) -> Callable[[], Iterator[bytes]]:
    def body() -> Iterator[bytes]:
        yield b"mp"
        clock.now = moment
        raise httpx.ReadTimeout("timed out")

    return body


def source_of(handle: Callable[[httpx.Request], httpx.Response]) -> HttpVideoSource:
    client = httpx.Client(transport=httpx.MockTransport(handle))
    return HttpVideoSource(client, deadline_seconds=DEADLINE_SECONDS)


def test_a_request_timing_out_at_the_deadline_is_reported_as_the_deadline(clock: FrozenClock) -> None:
    with pytest.raises(TransferFailed, match="longer than 30 s"):
        read(source_of(timing_out_at(clock, NOW + DEADLINE_SECONDS)))


def test_a_request_timing_out_before_the_deadline_is_reported_as_a_timeout(clock: FrozenClock) -> None:
    with pytest.raises(TransferFailed, match="ReadTimeout"):
        read(source_of(timing_out_at(clock, NOW + DEADLINE_SECONDS - 0.001)))


def test_a_body_timing_out_at_the_deadline_is_reported_as_the_deadline(clock: FrozenClock) -> None:
    cdn = Cdn(clock, body=raising_in_the_body_at(clock, NOW + DEADLINE_SECONDS))

    with pytest.raises(TransferFailed, match="longer than 30 s"):
        read(cdn.source())


def test_a_body_timing_out_before_the_deadline_is_reported_as_a_timeout(clock: FrozenClock) -> None:
    cdn = Cdn(clock, body=raising_in_the_body_at(clock, NOW + DEADLINE_SECONDS - 0.001))

    with pytest.raises(TransferFailed, match="ReadTimeout"):
        read(cdn.source())


# -- redirects: how many, and which answers are one ----------------------------------------------------
def chain(hops: int) -> dict[str, str]:
    """``hops`` redirects from FIRST_HOP, each to the next /hop-N.mp4."""
    urls = [FIRST_HOP, *(f"https://cdn.example.com/hop-{n}.mp4" for n in range(1, hops + 1))]
    return dict(zip(urls, urls[1:], strict=False))


class RedirectingCdn:
    """Answers a URL in ``redirects`` with a 302 to its Location (None: a 302 without one), anything else
    with ``status`` and an MP4; records every URL requested."""

    def __init__(self, redirects: dict[str, str | None], status: int = 200, **headers: str) -> None:
        self.redirects = redirects
        self.status = status
        self.headers = headers
        self.requested: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requested.append(str(request.url))
        if str(request.url) in self.redirects:
            location = self.redirects[str(request.url)]
            return httpx.Response(302, headers={} if location is None else {"location": location})
        return httpx.Response(self.status, content=b"mp4", headers=self.headers)

    def source(self, **client_options: bool) -> HttpVideoSource:
        return HttpVideoSource(httpx.Client(transport=httpx.MockTransport(self.handle), **client_options))


def test_three_redirects_are_followed() -> None:
    cdn = RedirectingCdn(chain(3))

    assert read(cdn.source()) == b"mp4"
    assert len(cdn.requested) == 4


def test_a_fourth_redirect_is_refused_without_being_requested() -> None:
    cdn = RedirectingCdn(chain(4))

    with pytest.raises(OutputRejected):
        read(cdn.source())

    assert len(cdn.requested) == 4


def test_a_relative_location_is_followed_on_the_same_host() -> None:
    cdn = RedirectingCdn({FIRST_HOP: "/moved.mp4"})

    assert read(cdn.source()) == b"mp4"
    assert cdn.requested == [FIRST_HOP, SECOND_HOP]


def test_a_redirect_without_a_location_is_refused() -> None:
    cdn = RedirectingCdn({FIRST_HOP: None})

    with pytest.raises(OutputRejected):
        read(cdn.source())

    assert cdn.requested == [FIRST_HOP]


def test_a_location_on_a_200_is_not_a_redirect() -> None:
    cdn = RedirectingCdn({}, location="https://elsewhere.example.net/out.mp4")

    assert read(cdn.source()) == b"mp4"
    assert cdn.requested == [FIRST_HOP]


def test_a_client_that_follows_redirects_by_itself_still_has_every_hop_checked() -> None:
    # Given a client of the caller's that would follow redirects, and a hop off the policy
    cdn = RedirectingCdn({FIRST_HOP: "https://videos.elsewhere.example.net/out.mp4"})

    with pytest.raises(OutputRejected):
        read(cdn.source(follow_redirects=True))

    # Then the hop off the policy was never requested
    assert cdn.requested == [FIRST_HOP]
