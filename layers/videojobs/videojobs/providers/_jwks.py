"""A provider's published Ed25519 webhook keys (a JWKS document), cached per container.

Two ways to use it:

- by key id (Atlas Cloud names the signing key in a header): ``key(kid)``; an unknown key id
  triggers a refetch;
- by trying every key (fal sends no key id): ``keys()``, and when none of them verifies,
  ``refreshed(since=...)`` refetches and gives the new set.

Either way a refetch happens at most once per ``min_refetch_interval``, so a stream of forged key ids
or forged signatures cannot turn into a stream of requests to the provider.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from videojobs.errors import ProviderError
from videojobs.observability import logger
from videojobs.ports import Clock
from videojobs.providers._http import request_json

ED25519_KEY_BYTES = 32


class JwksKeys:
    def __init__(
        self,
        client: httpx.Client,
        url: str,
        *,
        provider: str,
        clock: Clock,
        min_refetch_interval: timedelta = timedelta(seconds=1),
    ) -> None:
        self._client = client
        self._url = url
        self._provider = provider
        self._clock = clock
        self._min_refetch_interval = min_refetch_interval
        #: Keys with a kid, for lookups by kid.
        self._keys: dict[str, Ed25519PublicKey] = {}
        #: Every key the document lists, with or without a kid, in its order.
        self._all: tuple[Ed25519PublicKey, ...] = ()
        self._fetched_at: datetime | None = None
        self._last_error: ProviderError | None = None
        self._lock = threading.Lock()

    def key(self, kid: str) -> Ed25519PublicKey | None:
        """The key named ``kid``, or None when the provider does not publish it.

        Raises ProviderError (retryable) when the key is not cached and the JWKS document could not
        be fetched: whether the key exists is then unknown, and the sender should try again later.
        """
        key = self._keys.get(kid)
        if key is not None:
            return key
        # Another thread may have fetched while this one waited for the lock.
        self._refetch_unless(lambda: kid in self._keys)
        return self._keys.get(kid)

    def keys(self) -> tuple[Ed25519PublicKey, ...]:
        """Every published key, kid or not: the cache, fetched first when it is empty.

        Raises ProviderError (retryable) as ``key`` does when nothing is cached and the fetch fails.
        """
        if not self._all:
            self._refetch_unless(lambda: bool(self._all))
        return self._all

    def refreshed(self, *, since: tuple[Ed25519PublicKey, ...]) -> tuple[Ed25519PublicKey, ...]:
        """After none of ``since`` (what ``keys()`` gave) verified: the keys as they are now, refetched
        unless another caller already replaced them; () when there is nothing new to try (the refetch
        interval has not passed). Raises ProviderError (retryable) when the refetch fails."""
        self._refetch_unless(lambda: self._all is not since)
        return self._all if self._all is not since else ()

    def _refetch_unless(self, satisfied: Callable[[], bool]) -> None:
        with self._lock:
            if satisfied():
                return
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self._min_refetch_interval:
                if self._last_error is not None:
                    raise ProviderError(str(self._last_error), retryable=True)
                return
            self._fetched_at = now
            try:
                entries = self._fetch()
            except ProviderError as error:
                self._last_error = error
                logger.warning("jwks fetch failed", provider=self._provider, error=str(error))
                raise
            self._last_error = None
            self._keys = {kid: key for kid, key in entries if kid is not None}
            self._all = tuple(key for _, key in entries)
            logger.info("jwks fetched", provider=self._provider, kids=sorted(self._keys), keys=len(self._all))

    def _fetch(self) -> list[tuple[str | None, Ed25519PublicKey]]:
        try:
            document = request_json(self._client, "GET", self._url, provider=self._provider, headers={})
        except ProviderError as error:
            raise ProviderError(
                f"{self._provider} webhook keys unavailable: {error}",
                retryable=True,
                status_code=error.status_code,
            ) from error
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ProviderError(f"{self._provider} webhook keys: no 'keys' list in the JWKS", retryable=True)
        keys: list[tuple[str | None, Ed25519PublicKey]] = []
        for entry in entries:
            key = _ed25519_key(entry)
            if key is None:
                logger.info("jwks key skipped", provider=self._provider, kid=_kid_of(entry))
                continue
            keys.append((_kid_of(entry) or None, key))
        return keys


def _kid_of(entry: Any) -> str | None:
    kid = entry.get("kid") if isinstance(entry, dict) else None
    return kid if isinstance(kid, str) else None


def _ed25519_key(entry: Any) -> Ed25519PublicKey | None:
    """An OKP/Ed25519 signing key, or None for anything else the document lists."""
    if not isinstance(entry, dict):
        return None
    if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
        return None
    if entry.get("use", "sig") != "sig" or entry.get("alg", "EdDSA") not in ("EdDSA", "Ed25519"):
        return None
    raw = decode_base64url(entry.get("x"))
    if raw is None or len(raw) != ED25519_KEY_BYTES:
        return None
    return Ed25519PublicKey.from_public_bytes(raw)


_BASE64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def decode_base64url(value: object) -> bytes | None:
    """base64url with or without '=' padding; None for anything that is not strictly that."""
    if not isinstance(value, str):
        return None
    unpadded = value.rstrip("=")
    if not unpadded or len(value) - len(unpadded) > 2 or not set(unpadded) <= _BASE64URL_ALPHABET:
        return None
    if len(value) != len(unpadded) and len(value) % 4:
        return None
    try:
        return base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except (binascii.Error, ValueError):
        return None
