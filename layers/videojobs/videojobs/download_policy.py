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
