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

    def verify(
        self, headers: Mapping[str, str], body: bytes, *, now: int, tolerance_seconds: int = 300
    ) -> None:
        """Accept the delivery or raise WebhookVerificationError. Header names are case-insensitive."""
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
        # The header's own digits are what the sender signed.
        expected = self._sign(msg_id, timestamp, body).encode()
        # Several space-separated entries while keys rotate; other versions (v1a, ...) are skipped.
        for entry in signatures.split():
            if entry.startswith("v1,") and hmac.compare_digest(entry.encode(), expected):
                return
        raise WebhookVerificationError("no matching signature")
