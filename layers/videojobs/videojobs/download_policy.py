"""Which output URLs the transfer may fetch: https to the provider's own hosts, nothing else."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from videojobs.errors import OutputRejected


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: 100.64.0.0/10 (carrier-grade NAT) is neither private nor global to the ipaddress module.
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
#: IPv6 forms that carry an IPv4 address the ipaddress module calls global without looking inside:
#: NAT64's well-known prefix (a gateway translates it to the IPv4 address in its last 32 bits)...
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: ...and the deprecated IPv4-compatible (::a.b.c.d) and SIIT-translated (::ffff:0:a.b.c.d) forms,
#: which no public host uses: refused whatever they carry.
_EMBEDDED_IPV4_DEPRECATED = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _unwrapped(address: IPAddress) -> IPAddress | None:
    """The IPv4 address an IPv6 address stands for, the address itself, or None for a form that
    is refused outright."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if any(address in network for network in _EMBEDDED_IPV4_DEPRECATED):
        return None
    return address


def is_public_address(address: IPAddress) -> bool:
    """False for loopback, private, link-local (the metadata endpoints too), CGNAT, multicast,
    reserved and unspecified addresses, including their IPv4-mapped, NAT64 and IPv4-compatible
    IPv6 forms."""
    unwrapped = _unwrapped(address)
    if unwrapped is None:
        return False
    if isinstance(unwrapped, ipaddress.IPv4Address) and unwrapped in _SHARED_ADDRESS_SPACE:
        return False
    return unwrapped.is_global and not unwrapped.is_multicast


def is_loopback_address(address: IPAddress) -> bool:
    """127.0.0.0/8 and ::1, including 127.x in its IPv4-mapped form."""
    unwrapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return (unwrapped or address).is_loopback


def address_problem(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why the pipeline may not connect to ``address``, or None. ``allow_loopback`` (local mode
    only) lets loopback through, and nothing else that is not public."""
    if is_public_address(address) or (allow_loopback and is_loopback_address(address)):
        return None
    if is_loopback_address(address):
        return f"{address} is a loopback address"
    return f"{address} is not a public address (private, link-local, CGNAT, multicast or reserved)"


def public_url_problem(url: str, *, allow_loopback: bool) -> str | None:
    """Why ``url`` is not a public https URL, or None: the test for a caller's notify_url and media
    URLs. Host names are checked as written (an address one resolves to is checked when we connect;
    a provider fetching a media URL makes its own checks)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # "https://[x": an unclosed IPv6 literal
        return "must be a valid URL"
    if not host:
        return "must name a host"
    if allow_loopback and parts.scheme in ("http", "https") and _is_loopback(host):
        return None
    if parts.scheme != "https":
        return "must be an https:// URL"
    if host == "localhost" or host.endswith((".localhost", ".internal", ".local")):
        return "must not point at a private host"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return (
        None if is_public_address(address) else "must not point at a private, loopback or link-local address"
    )


class HostAllowlist:
    """``*.example.com`` matches any subdomain of example.com; other entries match exactly.

    With ``allow_loopback`` (local mode only) plain http to a loopback address is allowed too.
    """

    def __init__(self, hosts: Iterable[str], *, allow_loopback: bool = False) -> None:
        self._exact = frozenset(h.lower() for h in hosts if not h.startswith("*."))
        self._suffixes = tuple(h[1:].lower() for h in hosts if h.startswith("*."))
        self._allow_loopback = allow_loopback

    def check(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            raise OutputRejected(f"output URL is not a valid URL: {url!r}") from None
        if not host:
            raise OutputRejected(f"output URL has no host: {url!r}")
        if self._allow_loopback and parts.scheme in ("http", "https") and _is_loopback(host):
            return
        if parts.scheme != "https":
            raise OutputRejected(f"output URL must be https, got {parts.scheme!r}")
        if host in self._exact or host.endswith(self._suffixes):
            return
        raise OutputRejected(f"output host {host!r} is not in the provider's allowlist")
