"""Per-job webhook credentials derived from the pipeline's secret, so nothing per job needs storing.

A webhook URL carries ``token = "{expiry}.{attempt}.{HMAC-SHA256(secret, job id, attempt and expiry)}"``:
it names its own expiry (the job's maximum age plus the provider's retry window) and the job's provider
turn it was made for (``Job.attempts``), and is checked in constant time. A turn the job has left
behind keeps a valid token, so its late webhook is recognised as that turn's and changes nothing.
A token without a turn (``"{expiry}.{digest}"``, made before turns were counted) is the first turn's.
An expiry further out than a token made now could have (that lifetime plus ``max_clock_skew``) is
refused like a forged token, so no token lives longer than a job can need, whoever minted it.
``WEBHOOK_TOKEN_SECRET`` may hold the current secret and the previous one (comma-separated): new jobs
get the current one, and both are accepted, so a rotation breaks no job in flight.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from videojobs.errors import WebhookUnauthorized
from videojobs.models import ProviderName, WebhookTarget, utc_now
from videojobs.ports import Clock

#: How far the clock of the function that minted a token may run ahead of the one checking it.
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)


class WebhookAuthenticator:
    def __init__(
        self,
        secrets: bytes | Sequence[bytes],
        *,
        lifetime: timedelta,
        clock: Clock = utc_now,
        max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW,
    ) -> None:
        self._secrets = [secrets] if isinstance(secrets, bytes) else list(secrets)
        if not self._secrets:
            raise ValueError("at least one webhook token secret is needed")
        self._lifetime = lifetime
        self._clock = clock
        self._max_clock_skew = max_clock_skew

    @staticmethod
    def _derive(secret: bytes, purpose: str, job_id: str) -> str:
        return hmac.new(secret, f"{purpose}:{job_id}".encode(), hashlib.sha256).hexdigest()

    def token_for(self, job_id: str, *, attempt: int = 1, expires_at: datetime | None = None) -> str:
        expiry = int((expires_at or self._clock() + self._lifetime).timestamp())
        return f"{expiry}.{attempt}.{self._derive(self._secrets[0], _purpose(expiry, attempt), job_id)}"

    def signing_secret_for(self, job_id: str) -> str:
        """The per-job secret a provider signs its webhooks with (EachLabs' webhook_secret)."""
        return self._derive(self._secrets[0], "webhook-signing", job_id)

    def verify_token(self, job_id: str, token: str | None) -> str:
        """The job's signing secret, under whichever secret made the token. Raises WebhookUnauthorized
        for a missing, malformed, expired or wrong token, without saying which."""
        return self.verify(job_id, token).signing_secret

    def verify(self, job_id: str, token: str | None) -> VerifiedToken:
        """The job's signing secret and the turn the token was made for; raises as ``verify_token``."""
        parts = (token or "").split(".")
        if len(parts) == 2:
            (expiry, digest), attempt_text = parts, None
        elif len(parts) == 3:
            expiry, attempt_text, digest = parts
        else:
            raise WebhookUnauthorized("missing or wrong webhook token")
        if not expiry.isdigit() or not digest or not (attempt_text is None or _turn_number(attempt_text)):
            raise WebhookUnauthorized("missing or wrong webhook token")
        expires_at, now = datetime.fromtimestamp(int(expiry), UTC), self._clock()
        if not now < expires_at <= now + self._lifetime + self._max_clock_skew:
            raise WebhookUnauthorized("missing or wrong webhook token")
        attempt = None if attempt_text is None else int(attempt_text)
        purpose = f"webhook-token:{expiry}" if attempt is None else _purpose(int(expiry), attempt)
        for secret in self._secrets:
            expected = self._derive(secret, purpose, job_id)
            if hmac.compare_digest(expected.encode(), digest.encode()):
                return VerifiedToken(self._derive(secret, "webhook-signing", job_id), attempt or 1)
        raise WebhookUnauthorized("missing or wrong webhook token")

    def target_for(
        self, base_url: str, provider: ProviderName, job_id: str, *, attempt: int = 1
    ) -> WebhookTarget:
        token = self.token_for(job_id, attempt=attempt)
        url = f"{base_url.rstrip('/')}/webhooks/{provider}/{quote(job_id)}?token={token}"
        return WebhookTarget(url=url, signing_secret=self.signing_secret_for(job_id))


@dataclass(frozen=True)
class VerifiedToken:
    signing_secret: str
    #: The provider turn (``Job.attempts``, 1-based) the webhook URL was made for.
    attempt: int


def _purpose(expiry: int, attempt: int) -> str:
    return f"webhook-token:{expiry}:attempt:{attempt}"


def _turn_number(text: str) -> bool:
    """1 to 999, written plainly: a token has one spelling."""
    return text.isascii() and text.isdigit() and not text.startswith("0") and len(text) <= 3


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
