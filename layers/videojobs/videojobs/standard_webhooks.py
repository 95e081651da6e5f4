"""Standard Webhooks (https://www.standardwebhooks.com): ``v1`` HMAC-SHA256 over ``id.timestamp.body``.

Implemented here rather than with the PyPI ``standardwebhooks`` package: 1.0.x pulled in httpx, attrs,
python-dateutil and Deprecated, and 1.1.0, though dependency-free, reads the wall clock (no injectable
``now``), decodes secrets leniently, needs a UTF-8 body and raises ValueError on malformed signature entries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class WebhookVerificationError(Exception):
    """The headers are missing or malformed, the timestamp is out of tolerance, or no signature matches."""


class StandardWebhook:
    """Signs and verifies with one secret: ``whsec_<base64>``, or bare base64 as Secrets Manager has it."""

    def __init__(self, secret: str) -> None:
        encoded = secret.strip().removeprefix(SECRET_PREFIX)
        try:
            # Unpadded base64 is accepted, as the reference libraries do; any other character is not.
            self._key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError) as error:
            raise ValueError("webhook secret must be base64, optionally prefixed with whsec_") from error
        if not self._key:
            raise ValueError("webhook secret must not be empty")

    def sign(self, msg_id: str, timestamp: int, body: bytes) -> str:
        """The ``v1,<base64>`` signature of ``body`` sent as message ``msg_id`` at ``timestamp`` (seconds)."""
        return self._sign(msg_id, str(timestamp), body)

    def _sign(self, msg_id: str, timestamp: str, body: bytes) -> str:
        signed = b"%s.%s.%s" % (msg_id.encode(), timestamp.encode(), body)
        return "v1," + base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest()).decode()

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The three headers a delivery carries."""
        return {
            ID_HEADER: msg_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: self.sign(msg_id, timestamp, body),
        }

    def matches(self, delivery: SignedDelivery, body: bytes) -> bool:
        """Whether one of the delivery's ``v1`` signatures is this secret's signature of ``body``."""
        # The header's own digits are what the sender signed.
        expected = self._sign(delivery.msg_id, delivery.timestamp, body).encode()
        return any(hmac.compare_digest(entry.encode(), expected) for entry in delivery.signatures)

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int, tolerance_seconds: int = 300
    ) -> None:
        """Accept the delivery or raise WebhookVerificationError. Header names are case-insensitive."""
        delivery = read_delivery(headers, now=now, tolerance_seconds=tolerance_seconds)
        if not self.matches(delivery, body):
            raise WebhookVerificationError("no matching signature")


@dataclass(frozen=True)
class SignedDelivery:
    """A delivery's three headers, read and within tolerance; not yet checked against any secret."""

    msg_id: str
    timestamp: str
    #: The ``v1,<base64>`` entries; other versions (``v1a``, ...) are left out.
    signatures: tuple[str, ...]


def read_delivery(headers: Mapping[str, str], *, now: int, tolerance_seconds: int = 300) -> SignedDelivery:
    """The delivery's id, timestamp and ``v1`` signatures, or WebhookVerificationError when a header is
    missing or malformed or the timestamp is out of tolerance. Checks nothing that needs the secret, so
    a receiver whose secret must be fetched can refuse these first."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get(ID_HEADER)
    timestamp = lowered.get(TIMESTAMP_HEADER)
    signatures = lowered.get(SIGNATURE_HEADER)
    if not (msg_id and timestamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise WebhookVerificationError("webhook-timestamp is not an integer")
    sent_at = int(timestamp)
    if sent_at < now - tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is too old")
    if sent_at > now + tolerance_seconds:
        raise WebhookVerificationError("webhook-timestamp is too new")
    # Several space-separated entries while keys rotate; with no v1 entry, nothing can match.
    v1 = tuple(entry for entry in signatures.split() if entry.startswith("v1,"))
    return SignedDelivery(msg_id=msg_id, timestamp=timestamp, signatures=v1)
