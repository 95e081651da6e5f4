"""Per-job webhook credentials derived from one secret, so nothing per job needs storing."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from videojobs.errors import WebhookUnauthorized
from videojobs.models import ProviderName, WebhookTarget


class WebhookAuthenticator:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _derive(self, purpose: str, job_id: str) -> str:
        return hmac.new(self._secret, f"{purpose}:{job_id}".encode(), hashlib.sha256).hexdigest()

    def token_for(self, job_id: str) -> str:
        return self._derive("webhook-token", job_id)

    def signing_secret_for(self, job_id: str) -> str:
        return self._derive("webhook-signing", job_id)

    def verify_token(self, job_id: str, token: str | None) -> None:
        if not token or not hmac.compare_digest(self.token_for(job_id).encode(), token.encode()):
            raise WebhookUnauthorized("missing or wrong webhook token")

    def target_for(self, base_url: str, provider: ProviderName, job_id: str) -> WebhookTarget:
        url = f"{base_url.rstrip('/')}/webhooks/{provider}/{quote(job_id)}?token={self.token_for(job_id)}"
        return WebhookTarget(url=url, signing_secret=self.signing_secret_for(job_id))


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
