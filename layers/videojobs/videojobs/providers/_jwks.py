"""A provider's published Ed25519 webhook keys (a JWKS document), cached per container.

An unknown key id triggers a refetch, at most one per ``min_refetch_interval``, so a stream of
forged key ids cannot turn into a stream of requests to the provider.
"""

from __future__ import annotations

import base64
import binascii
import threading
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
        self._keys: dict[str, Ed25519PublicKey] = {}
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
        with self._lock:
            # Another thread may have fetched while this one waited for the lock.
            key = self._keys.get(kid)
            if key is not None:
                return key
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self._min_refetch_interval:
                if self._last_error is not None:
                    raise ProviderError(str(self._last_error), retryable=True)
                return None
            self._fetched_at = now
            try:
                self._keys = self._fetch()
            except ProviderError as error:
                self._last_error = error
                logger.warning("jwks fetch failed", provider=self._provider, error=str(error))
                raise
            self._last_error = None
            logger.info("jwks fetched", provider=self._provider, kids=sorted(self._keys))
            return self._keys.get(kid)

    def _fetch(self) -> dict[str, Ed25519PublicKey]:
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
        keys: dict[str, Ed25519PublicKey] = {}
        for entry in entries:
            parsed = _ed25519_key(entry)
            if parsed is None:
                logger.info("jwks key skipped", provider=self._provider, kid=_kid_of(entry))
                continue
            kid, key = parsed
            keys[kid] = key
        return keys


def _kid_of(entry: Any) -> str | None:
    kid = entry.get("kid") if isinstance(entry, dict) else None
    return kid if isinstance(kid, str) else None


def _ed25519_key(entry: Any) -> tuple[str, Ed25519PublicKey] | None:
    """An OKP/Ed25519 signing key with a kid, or None for anything else the document lists."""
    kid = _kid_of(entry)
    if not isinstance(entry, dict) or not kid:
        return None
    if entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
        return None
    if entry.get("use", "sig") != "sig" or entry.get("alg", "EdDSA") not in ("EdDSA", "Ed25519"):
        return None
    raw = decode_base64url(entry.get("x"))
    if raw is None or len(raw) != ED25519_KEY_BYTES:
        return None
    return kid, Ed25519PublicKey.from_public_bytes(raw)


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
