"""Survivors of `make mutate` in adapters/pinned_http.py: the deadline on every network operation and
its edges, the last connect error, the inner stream closed, the pool's limits, the defaults of
pinned_client() and a request's own SNI name.

Most tests run on a scripted network and a frozen clock: httpcore's socket backend is replaced by
``ScriptedNetwork``, whose streams answer scripted bytes, record the timeout of every operation and
move the clock by the time each operation is scripted to take; ``pinned_http``'s clock is frozen
until they move it. No socket is opened, so the exact timeouts and the edges of the deadline
(left == 0) are seen; only httpcore's own clock is waited on (a 10 ms pool timeout, a 50 ms
keep-alive). The SNI checks run against a TLS server on 127.0.0.1 from test_pinned_http.py.

The survivors left are equivalent (no test can tell them from the code):
- ``getaddrinfo`` without ``type=SOCK_STREAM``: each address then comes once per socket type, in the
  same order, and the duplicates are dropped;
- ``last_error`` starting as ``""``: it is read only after every checked address failed, and each
  failure sets it (``checked_addresses`` never answers an empty list);
- ``getattr(inner, "close")`` without its default: httpcore's response stream always has ``close``;
- ``follow_redirects=None`` or left out: httpx's default is False, and None is as false where httpx
  decides (``follow_redirects=True`` is killed below);
- ``trust_env`` True, None or left out: httpx 0.28.1 reads proxy variables only for a client built
  without a transport (``allow_env_proxies = trust_env and transport is None``) and uses trust_env
  for nothing else; ``test_a_proxy_in_the_environment_is_not_used`` fails if that ever changes.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from tests.unit.test_pinned_http import (
    CDN,
    MADE_UP,
    Certificates,
    LoopbackServer,
    StubResolver,
    answer,
    make_certificates,
    resolving,
)
from videojobs.adapters import pinned_http
from videojobs.adapters.pinned_http import (
    DEADLINE,
    AddressRefused,
    PinnedBackend,
    PinnedTransport,
    pinned_client,
)

NOW = 1000.0
CLIENT_TIMEOUT = 10.0
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
BODY = b"mp4!"


@dataclass
class FrozenClock:
    """``pinned_http``'s ``time``: monotonic() stands still until a scripted operation moves it."""

    now: float = NOW
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass(frozen=True)
class Op:
    """One operation a stream was asked for: its name, the timeout it got and the clock when asked."""

    name: str
    timeout: float | None
    at: float


@dataclass
class Step:
    """What a scripted read answers (``data``) or a connect raises (``error``), and how long it takes."""

    data: bytes = b""
    takes: float = 0.0
    error: Exception | None = None


class ScriptedStream(httpcore.NetworkStream):
    """Behaves like a socket: reads answer the script in turn (then b"", the peer closed), every write
    is kept; each operation takes the time scripted for it."""

    def __init__(self, network: ScriptedNetwork, address: str, port: int) -> None:
        self.network = network
        self.address = address
        self.port = port
        self.sent = b""
        self.closed = False

    def _op(self, name: str, timeout: float | None) -> None:
        self.network.ops.append(Op(name, timeout, self.network.clock.now))
        self.network.clock.now += self.network.takes.get(name, 0.0)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if not isinstance(max_bytes, int):  # as socket.recv
            raise TypeError("max_bytes must be an int")
        self.network.ops.append(Op("read", timeout, self.network.clock.now))
        if not self.network.replies:
            return b""
        step = self.network.replies.popleft()
        self.network.clock.now += step.takes
        if step.error is not None:
            raise step.error
        return step.data[:max_bytes]

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._op("write", timeout)
        self.sent += buffer

    def close(self) -> None:
        self.closed = True

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self._op("start_tls", timeout)
        self.network.tls.append((ssl_context, server_hostname))
        return self

    def get_extra_info(self, info: str) -> Any:
        return {"server_addr": (self.address, self.port)}.get(info)


@dataclass
class ScriptedNetwork:
    """httpcore's socket backend, scripted: ``connects`` answers each connect in turn (a Step with an
    error raises it), ``replies`` the reads of every stream, ``takes`` how long a connect, write or
    start_tls takes."""

    clock: FrozenClock
    replies: deque[Step] = field(default_factory=deque)
    connects: deque[Step] = field(default_factory=deque)
    takes: dict[str, float] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    opened: list[tuple[str, int]] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)
    streams: list[ScriptedStream] = field(default_factory=list)
    tls: list[tuple[ssl.SSLContext, str | None]] = field(default_factory=list)

    def reply(self, *steps: Step) -> None:
        self.replies.extend(steps)

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, **options: Any
    ) -> ScriptedStream:
        assert ipaddress.ip_address(host).is_loopback, f"the test tried to connect to {host}"
        self.opened.append((host, port))
        self.options.append(options)
        self.ops.append(Op("connect", timeout, self.clock.now))
        step = self.connects.popleft() if self.connects else Step()
        self.clock.now += step.takes + self.takes.get("connect", 0.0)
        if step.error is not None:
            raise step.error
        stream = ScriptedStream(self, host, port)
        self.streams.append(stream)
        return stream

    def timeouts(self, name: str) -> list[float | None]:
        return [op.timeout for op in self.ops if op.name == name]


@pytest.fixture(scope="module")
def certs() -> Iterator[Certificates]:
    with tempfile.TemporaryDirectory() as directory:
        yield make_certificates(Path(directory))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock()
    monkeypatch.setattr(pinned_http, "time", frozen)
    return frozen


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch, clock: FrozenClock) -> ScriptedNetwork:
    scripted = ScriptedNetwork(clock)

    def connect_tcp(
        _: httpcore.SyncBackend, host: str, port: int, *args: Any, **kwargs: Any
    ) -> ScriptedStream:
        return scripted.connect_tcp(host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    return scripted


def client(*, timeout: float | None = CLIENT_TIMEOUT, resolver: Any = None, **kwargs: Any) -> httpx.Client:
    return pinned_client(
        timeout=httpx.Timeout(timeout),
        allow_loopback=True,
        resolver=resolver or resolving(MADE_UP, "127.0.0.1"),
        **kwargs,
    )


def until(seconds: float) -> dict[str, float]:
    """The extensions of a request whose deadline is ``seconds`` after the frozen clock's start."""
    return {DEADLINE: NOW + seconds}


URL = f"http://{MADE_UP}:8080/out.mp4"
TLS_URL = f"https://{MADE_UP}/out.mp4"


# -- every operation gets at most the time left before the deadline ------------------------------------
def test_connect_tls_write_and_reads_each_get_the_time_left_before_the_deadline(
    network: ScriptedNetwork,
) -> None:
    # Given a deadline 3 s away, under a client timeout of 10 s, and a network where each step takes time
    network.takes.update(connect=0.25, start_tls=0.25, write=0.25)
    network.reply(Step(OK, takes=1.0), Step(BODY, takes=0.25))

    # When a TLS request is made and its body read
    with client() as http:
        response = http.get(TLS_URL, extensions=until(3.0))

    # Then every operation got exactly the time left when it started
    assert response.content == BODY
    assert network.ops, "no operation reached the network"
    for op in network.ops:
        assert op.timeout == pytest.approx(NOW + 3.0 - op.at), op
    assert {"connect", "start_tls", "write", "read"} <= {op.name for op in network.ops}


def test_without_a_deadline_every_operation_gets_the_client_timeout(network: ScriptedNetwork) -> None:
    network.reply(Step(OK), Step(BODY))

    with client() as http:
        assert http.get(TLS_URL).content == BODY

    assert {op.timeout for op in network.ops} == {CLIENT_TIMEOUT}


def test_a_client_timeout_shorter_than_the_time_left_is_kept(network: ScriptedNetwork) -> None:
    network.reply(Step(OK), Step(BODY))

    with client() as http:
        assert http.get(TLS_URL, extensions=until(60.0)).content == BODY

    assert {op.timeout for op in network.ops} == {CLIENT_TIMEOUT}


def test_a_deadline_bounds_operations_that_have_no_timeout_of_their_own(network: ScriptedNetwork) -> None:
    network.reply(Step(OK), Step(BODY))

    with client(timeout=None) as http:
        assert http.get(TLS_URL, extensions=until(2.0)).content == BODY

    assert {op.timeout for op in network.ops} == {2.0}


# -- past the deadline, nothing more is done -----------------------------------------------------------
def test_a_deadline_already_reached_opens_no_connection(network: ScriptedNetwork, clock: FrozenClock) -> None:
    # The deadline is now: no time is left, not even zero seconds of a connect.
    with client() as http, pytest.raises(httpx.ConnectTimeout):
        http.get(URL, extensions={DEADLINE: clock.now})

    assert network.opened == []


def test_a_deadline_reached_while_connecting_stops_before_the_tls_handshake(network: ScriptedNetwork) -> None:
    network.takes.update(connect=2.0)

    with client() as http, pytest.raises(httpx.ConnectTimeout):
        http.get(TLS_URL, extensions=until(2.0))

    assert [op.name for op in network.ops] == ["connect"]
    assert network.tls == []


def test_a_deadline_reached_during_the_handshake_sends_no_request(network: ScriptedNetwork) -> None:
    network.takes.update(start_tls=2.0)

    with client() as http, pytest.raises(httpx.WriteTimeout):
        http.get(TLS_URL, extensions=until(2.0))

    assert network.streams[0].sent == b""


def test_a_head_still_arriving_at_the_deadline_gets_no_more_reads(network: ScriptedNetwork) -> None:
    network.reply(Step(b"HTTP/1.1 200 OK\r\n", takes=2.0), Step(b"Content-Length: 4\r\n\r\n" + BODY))

    with client() as http, pytest.raises(httpx.ReadTimeout):
        http.get(URL, extensions=until(2.0))

    assert len(network.timeouts("read")) == 1


def test_a_body_read_after_the_deadline_times_out(network: ScriptedNetwork) -> None:
    # Given a head that arrives 1 s before the deadline and a body that would come after it
    network.reply(Step(OK, takes=2.0), Step(BODY))

    with client() as http, http.stream("GET", URL, extensions=until(2.0)) as response:
        # Then the head is read, and the body is not
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            response.read()

    assert len(network.timeouts("read")) == 1


def test_a_body_part_that_arrives_after_the_deadline_is_not_handed_on(network: ScriptedNetwork) -> None:
    # The read was allowed (1 s left) but the part came in 1 s past the deadline.
    network.reply(Step(OK, takes=1.0), Step(BODY, takes=2.0))

    with (
        client() as http,
        http.stream("GET", URL, extensions=until(2.0)) as response,
        pytest.raises(httpx.ReadTimeout),
    ):
        response.read()


def test_a_body_part_that_arrives_at_the_deadline_itself_is_handed_on(network: ScriptedNetwork) -> None:
    network.reply(Step(OK, takes=1.0), Step(BODY, takes=1.0))

    with client() as http:
        assert http.get(URL, extensions=until(2.0)).content == BODY


# -- connections: the last error, the inner stream, unix sockets ----------------------------------------
def test_when_every_checked_address_fails_the_last_error_is_the_one_raised(network: ScriptedNetwork) -> None:
    # Given a name with two addresses, both refusing
    first, last = httpcore.ConnectError("127.0.0.2 refused"), httpcore.ConnectError("127.0.0.3 unreachable")
    network.connects.extend([Step(error=first), Step(error=last)])
    resolver = resolving(MADE_UP, "127.0.0.2", "127.0.0.3")

    # When a request is made
    with client(resolver=resolver) as http, pytest.raises(httpx.ConnectError) as raised:
        http.get(URL)

    # Then both were tried, and the failure says why the last one failed
    assert network.opened == [("127.0.0.2", 8080), ("127.0.0.3", 8080)]
    assert raised.value.__cause__ is last


def test_a_response_read_to_the_end_closes_its_connection_when_the_server_closes(
    network: ScriptedNetwork,
) -> None:
    network.reply(Step(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"), Step(BODY))

    with client() as http:
        assert http.get(URL).content == BODY
        # Then the socket is closed at once, not left open until the client goes
        assert network.streams[0].closed


def test_a_closed_response_gives_its_connection_back_to_the_pool(network: ScriptedNetwork) -> None:
    network.reply(Step(OK), Step(BODY), Step(OK), Step(BODY))

    with client() as http:
        assert http.get(URL).content == BODY
        assert http.get(URL).content == BODY

    assert network.opened == [("127.0.0.1", 8080)]


def test_closing_the_client_closes_its_sockets(network: ScriptedNetwork) -> None:
    network.reply(Step(OK), Step(BODY))

    with client() as http:
        http.get(URL)

    assert [stream.closed for stream in network.streams] == [True]


def test_the_response_tells_which_checked_address_it_came_from(network: ScriptedNetwork) -> None:
    network.reply(Step(OK), Step(BODY))

    with client(resolver=resolving(MADE_UP, "127.0.0.7")) as http:
        response = http.get(URL)

    assert response.extensions["network_stream"].get_extra_info("server_addr") == ("127.0.0.7", 8080)


def test_the_tls_handshake_gets_the_pinned_context_and_the_url_host_name(network: ScriptedNetwork) -> None:
    context = ssl.create_default_context()
    network.reply(Step(OK), Step(BODY))

    with client(ssl_context=context) as http:
        http.get(TLS_URL)

    assert network.tls == [(context, MADE_UP)]


def test_the_pinned_backend_opens_no_unix_socket(clock: FrozenClock) -> None:
    backend = PinnedBackend(resolver=StubResolver({}), allow_loopback=True)

    with pytest.raises(httpcore.ConnectError):
        backend.connect_unix_socket("/var/run/docker.sock")


def test_the_pinned_backend_sleeps_the_time_it_is_asked(clock: FrozenClock) -> None:
    PinnedBackend(resolver=StubResolver({}), allow_loopback=True).sleep(0.25)

    assert clock.slept == [0.25]


def test_the_pinned_backend_keeps_the_local_address_and_socket_options_it_is_given(
    network: ScriptedNetwork,
) -> None:
    # The httpcore backend contract: a pool built with them (keepalive probes, a source address) gets them.
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    backend = PinnedBackend(resolver=resolving(MADE_UP, "127.0.0.1"), allow_loopback=True)

    backend.connect_tcp(MADE_UP, 8080, local_address="127.0.0.1", socket_options=options)

    assert network.options == [{"local_address": "127.0.0.1", "socket_options": options}]


# -- the limits a transport is given are the pool's -----------------------------------------------------
def transport_with(limits: httpx.Limits) -> PinnedTransport:
    return PinnedTransport(allow_loopback=True, resolver=resolving(MADE_UP, "127.0.0.1"), limits=limits)


def waiting_for_the_pool(http: httpx.Client) -> BaseException | None:
    """What a GET does while every connection the pool may open is taken: with a pool timeout of 10 ms
    it raises PoolTimeout. Run in a thread given 2 s, so that a pool that waited without end fails
    the test instead of hanging it."""
    outcome: list[BaseException | None] = []

    def get() -> None:
        try:
            http.get(URL, timeout=httpx.Timeout(5.0, pool=0.01))
            outcome.append(None)
        except Exception as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    thread = threading.Thread(target=get, daemon=True)
    thread.start()
    thread.join(2.0)
    assert outcome, "the request neither got a connection nor timed out waiting for one"
    return outcome[0]


def test_a_transport_allowed_one_connection_makes_a_second_request_wait_for_it(
    network: ScriptedNetwork,
) -> None:
    network.reply(Step(OK + BODY))

    with (
        httpx.Client(transport=transport_with(httpx.Limits(max_connections=1))) as http,
        http.stream("GET", URL),
    ):
        assert isinstance(waiting_for_the_pool(http), httpx.PoolTimeout)

    assert network.opened == [("127.0.0.1", 8080)]


def test_by_default_a_transport_opens_at_most_100_connections_at_once(network: ScriptedNetwork) -> None:
    network.reply(*[Step(OK + BODY)] * 100)
    transport = PinnedTransport(allow_loopback=True, resolver=resolving(MADE_UP, "127.0.0.1"))

    with httpx.Client(transport=transport) as http, ExitStack() as responses:
        for _ in range(100):
            responses.enter_context(http.stream("GET", URL))
        assert isinstance(waiting_for_the_pool(http), httpx.PoolTimeout)

    assert len(network.opened) == 100


def test_by_default_a_transport_keeps_at_most_20_idle_connections(network: ScriptedNetwork) -> None:
    network.reply(*[Step(OK + BODY)] * 21)
    transport = PinnedTransport(allow_loopback=True, resolver=resolving(MADE_UP, "127.0.0.1"))

    with httpx.Client(transport=transport) as http:
        # Given 21 responses open at once
        with ExitStack() as open_responses:
            responses = [open_responses.enter_context(http.stream("GET", URL)) for _ in range(21)]
            # When they are all read
            for response in responses:
                response.read()
        # Then one connection is closed and 20 wait for reuse
        assert len(network.streams) == 21
        assert sum(stream.closed for stream in network.streams) == 1


def test_a_transport_keeping_no_idle_connection_opens_one_per_request(network: ScriptedNetwork) -> None:
    network.reply(Step(OK), Step(BODY), Step(OK), Step(BODY))

    with httpx.Client(transport=transport_with(httpx.Limits(max_keepalive_connections=0))) as http:
        assert http.get(URL).content == BODY
        assert http.get(URL).content == BODY

    assert len(network.opened) == 2


def test_an_idle_connection_is_not_reused_after_its_keepalive_expiry(network: ScriptedNetwork) -> None:
    network.reply(Step(OK), Step(BODY), Step(OK), Step(BODY))

    with httpx.Client(transport=transport_with(httpx.Limits(keepalive_expiry=0.01))) as http:
        assert http.get(URL).content == BODY
        time.sleep(0.05)  # httpcore's own clock: past the expiry
        assert http.get(URL).content == BODY

    assert len(network.opened) == 2


# -- the defaults: loopback refused, no redirect followed, no proxy -------------------------------------
def test_a_pinned_transport_refuses_loopback_unless_told_otherwise(network: ScriptedNetwork) -> None:
    transport = PinnedTransport(resolver=resolving(CDN, "127.0.0.1"))

    with httpx.Client(transport=transport) as http, pytest.raises(AddressRefused):
        http.get(f"https://{CDN}/out.mp4")

    assert network.opened == []


def test_a_pinned_client_hands_a_redirect_back_instead_of_following_it(network: ScriptedNetwork) -> None:
    # Callers check each hop against the download policy: the client must not go there by itself.
    network.reply(
        Step(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere.mp4\r\nContent-Length: 0\r\n\r\n"),
        Step(OK),
        Step(BODY),
    )

    with client() as http:
        response = http.get(URL)

    assert response.status_code == 302
    assert b"/elsewhere.mp4" not in b"".join(stream.sent for stream in network.streams)


@pytest.mark.parametrize("variable", ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"])
def test_a_proxy_in_the_environment_is_not_used(
    variable: str, monkeypatch: pytest.MonkeyPatch, network: ScriptedNetwork
) -> None:
    # A proxy would connect on the client's behalf, to whatever address it resolves: no pinning.
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.9:3128")
    network.reply(Step(OK), Step(BODY))

    with client() as http:
        assert http.get(f"https://{MADE_UP}:8443/out.mp4").content == BODY

    assert network.opened == [("127.0.0.1", 8443)]


# -- a request's own SNI name is ignored: the certificate is always checked for the URL's host ----------
def test_a_request_cannot_have_the_certificate_checked_for_another_host(certs: Certificates) -> None:
    resolver = StubResolver({"not-on-the-cert.test": [["127.0.0.1"]]})
    with LoopbackServer(answer(body=b"ok"), tls=certs) as server:
        http = client(resolver=resolver, ssl_context=certs.client_context())

        with http, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            http.get(server.url("/x", host="not-on-the-cert.test"), extensions={"sni_hostname": MADE_UP})

    assert server.sni_names == ["not-on-the-cert.test"]


def test_a_request_s_sni_name_does_not_replace_the_url_host(certs: Certificates) -> None:
    with LoopbackServer(answer(body=b"ok"), tls=certs) as server:
        http = client(ssl_context=certs.client_context())

        with http:
            response = http.get(server.url("/x", host=MADE_UP), extensions={"sni_hostname": "elsewhere.test"})

    assert response.content == b"ok"
    assert server.sni_names == [MADE_UP]


def test_the_client_timeout_reaches_the_socket_without_a_deadline(network: ScriptedNetwork) -> None:
    # Other extensions than sni_hostname (here httpx's timeouts) reach httpcore.
    network.reply(Step(OK), Step(BODY))

    with pinned_client(
        timeout=httpx.Timeout(connect=1.0, read=2.0, write=3.0, pool=4.0),
        allow_loopback=True,
        resolver=resolving(MADE_UP, "127.0.0.1"),
    ) as http:
        http.get(URL)

    assert (network.timeouts("connect"), set(network.timeouts("write")), set(network.timeouts("read"))) == (
        [1.0],
        {3.0},
        {2.0},
    )
