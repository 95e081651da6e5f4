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


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """False for loopback, private, link-local (the metadata endpoints too), CGNAT, multicast,
    reserved and unspecified addresses, including their IPv4-mapped IPv6 forms."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED_ADDRESS_SPACE:
        return False
    return address.is_global and not address.is_multicast


def callback_url_problem(url: str, *, allow_loopback: bool) -> str | None:
    """Why the pipeline may not POST to ``url``, or None. Host names are checked as written; an
    address they resolve to is checked when the call is made."""
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "").lower()
    except ValueError:
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
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host:
            raise OutputRejected(f"output URL has no host: {url!r}")
        if self._allow_loopback and parts.scheme in ("http", "https") and _is_loopback(host):
            return
        if parts.scheme != "https":
            raise OutputRejected(f"output URL must be https, got {parts.scheme!r}")
        if host in self._exact or host.endswith(self._suffixes):
            return
        raise OutputRejected(f"output host {host!r} is not in the provider's allowlist")
