"""Opaque, tamper-evident cursors for GET /jobs.

A cursor is ``{payload}.{signature}``, both base64url: the payload names where the next page starts
(the store's position, as it gave it) and a digest of the filters it was issued for; the signature
is an HMAC-SHA256 over the payload under a key derived from the webhook token secret (its own purpose
string, so no cursor can ever pass for a webhook token). A cursor someone edited, or one reused with
other filters, is refused: never a page of someone else's listing, never a store error. With two
secrets (a rotation), new cursors use the first and both are accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from videojobs.errors import InvalidCursor
from videojobs.models import JobListFilters

_PURPOSE = b"job-list-cursor"


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _canonical(value: object) -> object:
    # A moment, whatever offset it was written with, as one number: the same listing, the same digest.
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(microseconds=1)
    return str(value)


def filters_digest(filters: JobListFilters) -> str:
    given = {name: _canonical(value) for name, value in filters if value is not None}
    return hashlib.sha256(json.dumps(given, sort_keys=True).encode()).hexdigest()[:32]


class ListCursors:
    def __init__(self, secrets: bytes | Sequence[bytes]) -> None:
        listed = [secrets] if isinstance(secrets, bytes) else list(secrets)
        if not listed:
            raise ValueError("at least one cursor secret is needed")
        self._keys = [hmac.new(secret, _PURPOSE, hashlib.sha256).digest() for secret in listed]

    def issue(self, position: Mapping[str, str], filters: JobListFilters) -> str:
        payload = json.dumps(
            {"p": dict(position), "f": filters_digest(filters)}, separators=(",", ":"), sort_keys=True
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._sign(self._keys[0], payload))}"

    def resume(self, cursor: str, filters: JobListFilters) -> dict[str, str]:
        """The position ``cursor`` names. Raises InvalidCursor when it is not one of ours, was
        changed, or was issued for other filters."""
        encoded_payload, _, encoded_signature = cursor.partition(".")
        try:
            payload = _b64decode(encoded_payload)
            signature = _b64decode(encoded_signature)
        except (binascii.Error, ValueError) as error:
            raise InvalidCursor("the cursor is not one this API issued") from error
        if not any(hmac.compare_digest(self._sign(key, payload), signature) for key in self._keys):
            raise InvalidCursor("the cursor is not one this API issued")
        content = json.loads(payload)
        if content["f"] != filters_digest(filters):
            raise InvalidCursor("the cursor was issued for other filters; send the same filters with it")
        position: dict[str, str] = content["p"]
        return position

    @staticmethod
    def _sign(key: bytes, payload: bytes) -> bytes:
        return hmac.new(key, payload, hashlib.sha256).digest()
