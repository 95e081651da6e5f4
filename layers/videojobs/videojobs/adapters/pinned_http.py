"""An httpx transport that connects only to addresses it has checked: resolve once, refuse the
host if any of its addresses is not public, then connect to a checked address while the Host header,
TLS SNI and the certificate check keep the host's name. A DNS answer that changes between the check
and the connection (rebinding) cannot move the connection anywhere else.

The pinning is an httpcore network backend: httpcore hands ``connect_tcp`` the URL's host name and
then runs TLS with ``server_hostname`` set to that same name; the backend resolves and checks the
name and opens the socket to the checked IP instead. Pooled connections stay pinned to the address
they were opened to.

A request may carry ``extensions={DEADLINE: time.monotonic() + seconds}``: every connect, TLS
handshake, write and read of that request and of its response body then has its timeout cut to the
time left, and fails once it has passed, so a server that drips bytes cannot outlive the deadline.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpcore
import httpx

from videojobs.download_policy import address_problem

#: host name -> the addresses it resolves to (strings or ipaddress objects).
type Resolver = Callable[[str], Sequence[str | ipaddress.IPv4Address | ipaddress.IPv6Address]]

#: The request extension holding a ``time.monotonic()`` deadline for the whole exchange.
DEADLINE = "deadline"

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("pinned_http_deadline", default=None)


class AddressRefused(httpx.ConnectError):
    """The host resolves to an address the pipeline may not connect to; no connection was made."""


def system_resolver(host: str) -> list[str]:
    """The host's addresses from the system resolver (getaddrinfo), in its order, once each."""
    try:
        answers = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise httpcore.ConnectError(f"could not resolve {host!r}: {error}") from error
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def _bounded(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` cut to what is left before the current deadline; raises ``expired`` past it."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Resolves once, checks every address, connects to a checked one (in the resolver's order)."""

    def __init__(self, *, resolver: Resolver, allow_loopback: bool) -> None:
        self._resolver = resolver
        self._allow_loopback = allow_loopback
        self._sockets = httpcore.SyncBackend()

    def checked_addresses(self, host: str) -> list[str]:
        """The addresses to connect to for ``host``; AddressRefused if any of them may not be used."""
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                addresses = [ipaddress.ip_address(str(answer)) for answer in self._resolver(host)]
            except ValueError as error:
                raise httpcore.ConnectError(f"{host!r} resolved to a bad address: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"{host!r} resolved to no address")
        for address in addresses:
            problem = address_problem(address, allow_loopback=self._allow_loopback)
            if problem is not None:
                raise AddressRefused(f"{host} resolves to {problem}")
        return [str(address) for address in addresses]

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        last_error: httpcore.ConnectError | None = None
        for address in self.checked_addresses(host):
            try:
                stream = self._sockets.connect_tcp(
                    address,
                    port,
                    timeout=_bounded(timeout, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore.ConnectError as error:  # unreachable or refused: the next checked address
                last_error = error
                continue
            return _DeadlineStream(stream)
        if last_error is None:  # checked_addresses never answers an empty list
            raise httpcore.ConnectError(f"no address to connect to for {host!r}")
        raise last_error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# Most specific first: the first match wins.
_MAPPED_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _httpx_errors(deadline: float | None) -> Iterator[None]:
    """Runs the block under ``deadline`` and raises httpcore's errors as httpx's."""
    token = _deadline.set(deadline)
    try:
        yield
    except Exception as error:
        for raised, mapped in _MAPPED_ERRORS:
            if isinstance(error, raised):
                raise mapped(str(error)) from error
        raise
    finally:
        _deadline.reset(token)


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes], deadline: float | None) -> None:
        self._inner = inner
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        parts = iter(self._inner)
        while True:
            with _httpx_errors(self._deadline):
                part = next(parts, None)
            if part is None:
                return
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise httpx.ReadTimeout("the request's deadline has passed")
            yield part

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            with _httpx_errors(None):
                close()


class PinnedTransport(httpx.BaseTransport):
    """HTTP/1.1 over connections pinned to checked addresses; never through a proxy.

    ``allow_loopback`` is for local mode only. ``ssl_context``: None for the usual CA bundle (as
    httpx's default); tests pass one that trusts their own CA. It must check certificates and host
    names: there is no way to turn verification off.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
            raise ValueError("the SSL context must verify certificates and host names")
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(resolver=resolver, allow_loopback=allow_loopback),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.SyncByteStream):
            raise TypeError("PinnedTransport is synchronous")
        # Our own SNI name only: no request may have its certificate checked for another host.
        extensions = {name: value for name, value in request.extensions.items() if name != "sni_hostname"}
        deadline = extensions.get(DEADLINE)
        if deadline is not None and not isinstance(deadline, int | float):
            raise TypeError(f"the {DEADLINE!r} extension must be a time.monotonic() value")
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        with _httpx_errors(deadline):
            response = self._pool.handle_request(core_request)
        if not isinstance(response.stream, Iterable):
            raise TypeError("httpcore answered with an asynchronous stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, deadline),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def pinned_client(
    *,
    timeout: httpx.Timeout,
    allow_loopback: bool,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.Client:
    """An httpx client whose every connection is address-checked and pinned; it follows no
    redirect by itself (callers check each hop) and ignores proxy settings in the environment."""
    return httpx.Client(
        transport=PinnedTransport(allow_loopback=allow_loopback, resolver=resolver, ssl_context=ssl_context),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
    )
