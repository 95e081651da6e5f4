"""Per-job webhook credentials derived from the pipeline's secret, so nothing per job needs storing.

A webhook URL carries ``token = "{expiry}.{HMAC-SHA256(secret, job id and expiry)}"``: it names its
own expiry (the job's maximum age plus the provider's retry window), and is checked in constant time.
An expiry further out than a token made now could have (that lifetime plus ``max_clock_skew``) is
refused like a forged token, so no token lives longer than a job can need, whoever minted it.
``WEBHOOK_TOKEN_SECRET`` may hold the current secret and the previous one (comma-separated): new jobs
get the current one, and both are accepted, so a rotation breaks no job in flight.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
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

    def token_for(self, job_id: str, *, expires_at: datetime | None = None) -> str:
        expiry = int((expires_at or self._clock() + self._lifetime).timestamp())
        return f"{expiry}.{self._derive(self._secrets[0], f'webhook-token:{expiry}', job_id)}"

    def signing_secret_for(self, job_id: str) -> str:
        """The per-job secret a provider signs its webhooks with (EachLabs' webhook_secret)."""
        return self._derive(self._secrets[0], "webhook-signing", job_id)

    def verify_token(self, job_id: str, token: str | None) -> str:
        """The job's signing secret, under whichever secret made the token. Raises WebhookUnauthorized
        for a missing, malformed, expired or wrong token, without saying which."""
        expiry, _, digest = (token or "").partition(".")
        if not expiry.isdigit() or not digest:
            raise WebhookUnauthorized("missing or wrong webhook token")
        expires_at, now = datetime.fromtimestamp(int(expiry), UTC), self._clock()
        if not now < expires_at <= now + self._lifetime + self._max_clock_skew:
            raise WebhookUnauthorized("missing or wrong webhook token")
        for secret in self._secrets:
            expected = self._derive(secret, f"webhook-token:{expiry}", job_id)
            if hmac.compare_digest(expected.encode(), digest.encode()):
                return self._derive(secret, "webhook-signing", job_id)
        raise WebhookUnauthorized("missing or wrong webhook token")

    def target_for(self, base_url: str, provider: ProviderName, job_id: str) -> WebhookTarget:
        url = f"{base_url.rstrip('/')}/webhooks/{provider}/{quote(job_id)}?token={self.token_for(job_id)}"
        return WebhookTarget(url=url, signing_secret=self.signing_secret_for(job_id))


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
