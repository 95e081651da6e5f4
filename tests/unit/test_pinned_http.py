"""The pinned transport, the downloader and the notifier against servers on 127.0.0.1 only.

Names are answered by stub resolvers, and every socket the transport opens goes through a guard that
fails the test on any address that is not loopback: a check that let 169.254.169.254 or 10.x
through fails here, it never sends a packet off the machine. The loopback servers and test
certificates below are also used by tests/integration/test_downloader.py.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support import fake_mp4
from videojobs.adapters.http_notifier import HttpCallerNotifier
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.adapters.pinned_http import AddressRefused, PinnedTransport, pinned_client
from videojobs.download_policy import HostAllowlist
from videojobs.errors import NotificationUndelivered, OutputRejected, TransferFailed

TIMEOUT = httpx.Timeout(5.0)
LOCAL_ONLY = HostAllowlist([], allow_loopback=True)
#: Names only the stub resolvers know; the test certificate covers them.
CDN = "cdn.example.com"
MADE_UP = "videos.example-cdn.test"
CERT_NAMES = (CDN, MADE_UP, "hooks.example.net")


# -- the guard: every socket the transport opens is to loopback, or the test fails ---------------------
def guard_connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Records every TCP connection httpcore opens; a non-loopback one fails the test, unsent."""
    opened: list[tuple[str, int]] = []
    real_connect = httpcore.SyncBackend.connect_tcp

    def connect_tcp(self: httpcore.SyncBackend, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        opened.append((host, port))
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise AssertionError(f"the test tried to connect to {host}:{port}")
        return real_connect(self, host, port, *args, **kwargs)

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    return opened


@pytest.fixture(autouse=True)
def opened(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    return guard_connections(monkeypatch)


@dataclass
class StubResolver:
    """Answers from ``answers``; a list of answers per name is used in turn (the last repeats)."""

    answers: dict[str, list[list[str]]]
    asked: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, **names: Sequence[str]) -> StubResolver:
        return cls({name.replace("_", "."): [list(addresses)] for name, addresses in names.items()})

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise httpcore.ConnectError(f"stub resolver does not know {host!r}")
        turns = self.answers[host]
        return turns.pop(0) if len(turns) > 1 else turns[0]


def resolving(name: str, *addresses: str) -> StubResolver:
    return StubResolver({name: [list(addresses)]})


# -- certificates: a CA of our own and a server certificate for CERT_NAMES ------------------------------
@dataclass(frozen=True)
class Certificates:
    ca_pem: bytes
    chain_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem.decode())

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.chain_file, self.key_file)
        return context


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def make_certificates(directory: Path, names: Iterable[str] = CERT_NAMES) -> Certificates:
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "videojobs test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = list(names)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain_file, key_file = directory / "chain.pem", directory / "key.pem"
    chain_file.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificates(ca_pem=ca.public_bytes(pem), chain_file=chain_file, key_file=key_file)


@pytest.fixture(scope="module")
def certs() -> Iterator[Certificates]:
    with tempfile.TemporaryDirectory() as directory:
        yield make_certificates(Path(directory))


# -- a loopback server that answers each connection with a script --------------------------------------
@dataclass(frozen=True)
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Respond = Callable[[socket.socket, Received], None]


def send_head(conn: socket.socket, status: int, headers: dict[str, str]) -> None:
    lines = [f"HTTP/1.1 {status} X"] + [f"{name}: {value}" for name, value in headers.items()]
    conn.sendall(("\r\n".join([*lines, "Connection: close", "", ""])).encode())


def answer(status: int = 200, body: bytes = b"", **headers: str) -> Respond:
    def respond(conn: socket.socket, _: Received) -> None:
        names = {name.replace("_", "-"): value for name, value in headers.items()}
        send_head(conn, status, {"Content-Length": str(len(body)), **names})
        conn.sendall(body)

    return respond


def _read_request(conn: socket.socket) -> Received | None:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece or len(data) > 65536:
            return None
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        body += piece
    return Received(method, target, headers, body)


class LoopbackServer:
    """HTTP/1.1 (TLS with ``tls``) on 127.0.0.1: one request per connection, answered by ``respond``.
    Records connections, requests and the SNI names of TLS handshakes."""

    def __init__(self, respond: Respond, *, tls: Certificates | None = None) -> None:
        self.respond = respond
        self.connections = 0
        self.received: list[Received] = []
        self.sni_names: list[str | None] = []
        self.stopped = threading.Event()
        self._context = tls.server_context() if tls is not None else None
        if self._context is not None:
            self._context.sni_callback = self._record_sni
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{'https' if self._context else 'http'}://{host}:{self.port}{path}"

    def _record_sni(self, _: ssl.SSLObject, name: str | None, __: ssl.SSLContext) -> None:
        self.sni_names.append(name)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        try:
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            received = _read_request(conn)
            if received is not None:
                self.received.append(received)
                self.respond(conn, received)
        except (OSError, ssl.SSLError):
            pass  # the client went away, or refused our certificate
        finally:
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def downloaded(source: HttpVideoSource, url: str, policy: HostAllowlist) -> bytes:
    with source.open(url, policy) as download:
        return b"".join(download.chunks)


# -- nothing is connected to when a name resolves to an address that is not public ---------------------
@pytest.mark.parametrize("address", ["127.0.0.1", "169.254.169.254"])
def test_an_allowlisted_name_resolving_to_loopback_or_metadata_makes_no_connection(
    address: str, certs: Certificates, opened: list[tuple[str, int]]
) -> None:
    with LoopbackServer(answer(body=fake_mp4()), tls=certs) as server:
        client = pinned_client(
            timeout=TIMEOUT, allow_loopback=False, resolver=resolving(CDN, address), ssl_context=None
        )
        source = HttpVideoSource(client)

        with pytest.raises(OutputRejected, match=address):
            downloaded(source, server.url("/out.mp4", host=CDN), HostAllowlist([CDN]))

    assert server.connections == 0
    assert opened == []


@pytest.mark.parametrize(
    "answers",
    [
        ["93.184.216.34", "10.0.0.7"],
        ["10.0.0.7", "93.184.216.34"],
        ["2606:2800:220:1::1", "fd00:ec2::254"],
        ["93.184.216.34", "::ffff:10.0.0.1"],
        ["::ffff:169.254.169.254"],
        ["64:ff9b::a9fe:a9fe"],
        ["100.64.0.1"],
    ],
)
def test_an_answer_with_any_private_address_is_refused_whole(
    answers: list[str], opened: list[tuple[str, int]]
) -> None:
    client = pinned_client(timeout=TIMEOUT, allow_loopback=True, resolver=resolving(MADE_UP, *answers))

    with pytest.raises(AddressRefused, match="not a public address"):
        client.get(f"https://{MADE_UP}/out.mp4")

    assert opened == []


@pytest.mark.parametrize("literal", ["[::ffff:10.0.0.1]", "[fd00:ec2::254]", "169.254.169.254", "10.1.2.3"])
def test_address_literals_are_checked_without_a_lookup(literal: str, opened: list[tuple[str, int]]) -> None:
    resolver = StubResolver({})
    client = pinned_client(timeout=TIMEOUT, allow_loopback=True, resolver=resolver)

    with pytest.raises(AddressRefused):
        client.get(f"http://{literal}/latest/meta-data/")

    assert resolver.asked == []
    assert opened == []


def test_a_redirect_whose_second_hop_resolves_to_a_private_address_is_refused(
    certs: Certificates, opened: list[tuple[str, int]]
) -> None:
    # Both names are allowlisted; only the address check can stop the second hop.
    resolver = StubResolver({CDN: [["127.0.0.1"]], "metadata.example.com": [["169.254.169.254"]]})
    with LoopbackServer(
        answer(302, location="https://metadata.example.com/latest/meta-data/"), tls=certs
    ) as server:
        client = pinned_client(
            timeout=TIMEOUT, allow_loopback=True, resolver=resolver, ssl_context=certs.client_context()
        )

        with pytest.raises(OutputRejected, match="169.254.169.254"):
            downloaded(
                HttpVideoSource(client), server.url("/out.mp4", host=CDN), HostAllowlist(["*.example.com"])
            )

    assert [received.target for received in server.received] == ["/out.mp4"]
    assert resolver.asked == [CDN, "metadata.example.com"]
    assert opened == [("127.0.0.1", server.port)]


# -- the connection goes to the checked address, under the host's own name ------------------------------
def test_the_connection_goes_to_the_checked_address_with_the_original_host_header(
    opened: list[tuple[str, int]],
) -> None:
    # Made-up public-looking name mapped to 127.0.0.1: loopback is allowed explicitly for this test.
    resolver = StubResolver({MADE_UP: [["127.0.0.1"], ["169.254.169.254"]]})  # rebinds after one answer
    with LoopbackServer(answer(body=b"ok", content_type="text/plain")) as server:
        client = pinned_client(timeout=TIMEOUT, allow_loopback=True, resolver=resolver)

        response = client.get(server.url("/x", host=MADE_UP))

    assert response.status_code == 200
    assert response.content == b"ok"
    assert server.received[0].headers["host"] == f"{MADE_UP}:{server.port}"
    assert resolver.asked == [MADE_UP]  # resolved once: the connection did not look the name up again
    assert opened == [("127.0.0.1", server.port)]


def test_tls_sends_the_host_name_as_sni_and_checks_the_certificate_against_it(
    certs: Certificates,
) -> None:
    resolver = StubResolver({MADE_UP: [["127.0.0.1"]], "not-on-the-cert.test": [["127.0.0.1"]]})
    with LoopbackServer(answer(body=b"ok"), tls=certs) as server:
        client = pinned_client(
            timeout=TIMEOUT, allow_loopback=True, resolver=resolver, ssl_context=certs.client_context()
        )

        assert client.get(server.url("/x", host=MADE_UP)).content == b"ok"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            client.get(server.url("/x", host="not-on-the-cert.test"))

    assert server.sni_names == [MADE_UP, "not-on-the-cert.test"]
    assert server.received[0].headers["host"] == f"{MADE_UP}:{server.port}"


def test_a_refused_first_address_falls_back_to_the_next_checked_one(
    opened: list[tuple[str, int]],
) -> None:
    with LoopbackServer(answer(body=b"ok")) as server:  # on 127.0.0.1 only: 127.0.0.2 refuses
        resolver = resolving(MADE_UP, "127.0.0.2", "127.0.0.1")
        client = pinned_client(timeout=TIMEOUT, allow_loopback=True, resolver=resolver)

        assert client.get(server.url("/", host=MADE_UP)).content == b"ok"

    assert opened == [("127.0.0.2", server.port), ("127.0.0.1", server.port)]


def test_verification_cannot_be_turned_off() -> None:
    context = ssl.create_default_context()
    context.check_hostname = False

    with pytest.raises(ValueError, match="verify"):
        PinnedTransport(ssl_context=context)


# -- local mode: loopback, and only loopback -----------------------------------------------------------
def test_local_mode_downloads_from_loopback_over_plain_http() -> None:
    data = fake_mp4()
    with LoopbackServer(answer(body=data, content_type="video/mp4")) as server:
        source = HttpVideoSource(pinned_client(timeout=TIMEOUT, allow_loopback=True))

        assert downloaded(source, server.url("/eachlabs/outputs/x.mp4"), LOCAL_ONLY) == data

    assert server.received[0].headers["host"] == f"127.0.0.1:{server.port}"


def test_outside_local_mode_loopback_is_refused_even_if_a_policy_lets_it_through() -> None:
    with LoopbackServer(answer(body=fake_mp4())) as server:
        source = HttpVideoSource(pinned_client(timeout=TIMEOUT, allow_loopback=False))

        with pytest.raises(OutputRejected, match="loopback"):
            downloaded(source, server.url("/x.mp4"), LOCAL_ONLY)

    assert server.connections == 0


def test_local_mode_still_refuses_private_addresses(opened: list[tuple[str, int]]) -> None:
    client = pinned_client(timeout=TIMEOUT, allow_loopback=True, resolver=resolving("localhost", "10.0.0.9"))

    with pytest.raises(AddressRefused):
        client.get("http://localhost:8900/x.mp4")

    assert opened == []


# -- the deadline covers the head and stalled reads, not only the gaps between chunks -------------------
def test_a_stalled_body_read_cannot_outlive_the_deadline() -> None:
    def stall(conn: socket.socket, _: Received) -> None:
        send_head(conn, 200, {"Content-Type": "video/mp4", "Content-Length": "100000"})
        conn.sendall(fake_mp4(64))
        server.stopped.wait(10)

    with LoopbackServer(stall) as server:
        # Reads may wait 10 s each; the whole download may take 0.5 s.
        client = pinned_client(timeout=httpx.Timeout(10.0), allow_loopback=True)
        source = HttpVideoSource(client, deadline_seconds=0.5)
        started = time.monotonic()

        with pytest.raises(TransferFailed, match="longer than 0.5 s"):
            downloaded(source, server.url("/x.mp4"), LOCAL_ONLY)
        elapsed = time.monotonic() - started

    assert 0.4 < elapsed < 2.0


def test_a_head_dripped_byte_by_byte_cannot_outlive_the_deadline() -> None:
    def drip_head(conn: socket.socket, _: Received) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
            if server.stopped.wait(0.1):
                return
            conn.sendall(bytes([byte]))

    with LoopbackServer(drip_head) as server:
        source = HttpVideoSource(
            pinned_client(timeout=httpx.Timeout(10.0), allow_loopback=True), deadline_seconds=0.6
        )
        started = time.monotonic()

        with pytest.raises(TransferFailed, match="longer than 0.6 s"):
            downloaded(source, server.url("/x.mp4"), LOCAL_ONLY)

    assert time.monotonic() - started < 2.0


# -- caller notifications -----------------------------------------------------------------------------
def test_the_notifier_refuses_a_notify_url_whose_host_resolves_to_a_private_address(
    opened: list[tuple[str, int]],
) -> None:
    client = pinned_client(
        timeout=TIMEOUT, allow_loopback=False, resolver=resolving("hooks.example.net", "10.1.2.3")
    )

    with pytest.raises(
        NotificationUndelivered, match=r"refused: hooks\.example\.net resolves to 10\.1\.2\.3"
    ):
        HttpCallerNotifier(client).post(
            "https://hooks.example.net/h", b"{}", {"content-type": "application/json"}
        )

    assert opened == []


def test_the_notifier_posts_over_a_pinned_connection_and_follows_no_redirect(certs: Certificates) -> None:
    with LoopbackServer(answer(307, location="http://169.254.169.254/"), tls=certs) as server:
        client = pinned_client(
            timeout=TIMEOUT,
            allow_loopback=True,
            resolver=resolving("hooks.example.net", "127.0.0.1"),
            ssl_context=certs.client_context(),
        )

        status = HttpCallerNotifier(client).post(
            server.url("/h", host="hooks.example.net"), b'{"a":1}', {"content-type": "application/json"}
        )

    assert status == 307
    (received,) = server.received
    assert (received.method, received.body) == ("POST", b'{"a":1}')
    assert received.headers["host"] == f"hooks.example.net:{server.port}"
    assert server.sni_names == ["hooks.example.net"]


def test_local_mode_notifies_a_loopback_peer() -> None:
    with LoopbackServer(answer(204)) as server:
        notifier = HttpCallerNotifier(pinned_client(timeout=TIMEOUT, allow_loopback=True))

        assert notifier.post(server.url("/hook"), b"{}", {}) == 204
