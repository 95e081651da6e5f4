"""Survivors of `make mutate` in Replicate's webhook check: the account secret is fetched again once the
interval has passed (not one tick later), a secret that is not one is a provider error no retry
fixes, and the age a webhook may have is the one configured."""

import base64
import json
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from tests.support import FixedClock
from videojobs.errors import ProviderError, WebhookUnauthorized
from videojobs.models import ProviderState
from videojobs.providers.replicate.adapter import SECRET_REFRESH_INTERVAL, ReplicateProvider
from videojobs.standard_webhooks import StandardWebhook

FIRST = "whsec_" + base64.b64encode(b"the account's first signing key").decode()
ROTATED = "whsec_" + base64.b64encode(b"the account's key after a change").decode()
BODY = json.dumps(
    {
        "id": "p1",
        "status": "succeeded",
        "output": "https://replicate.delivery/xezq/abc/out.mp4",
        "error": None,
        "created_at": "2026-11-24T12:00:00.000000Z",
    }
).encode()


def replicate(
    secrets: list[str], clock: FixedClock, *, max_webhook_age: timedelta = timedelta(minutes=5)
) -> ReplicateProvider:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/webhooks/default/secret"
        return httpx.Response(200, json={"key": secrets[0]})

    return ReplicateProvider(
        httpx.Client(transport=httpx.MockTransport(handle)),
        base_url="https://api.replicate.com/",
        api_key=SecretStr("key-123"),
        clock=clock,
        max_webhook_age=max_webhook_age,
    )


def signed(secret: str, clock: FixedClock) -> dict[str, str]:
    return StandardWebhook(secret).headers("msg-1", int(clock.now.timestamp()), BODY)


def test_a_changed_secret_is_fetched_again_as_soon_as_the_interval_has_passed() -> None:
    # Given a provider that fetched the account's secret for a first webhook
    clock = FixedClock()
    secrets = [FIRST]
    provider = replicate(secrets, clock)
    provider.parse_webhook(signed(FIRST, clock), BODY, signing_secret="unused")

    # When the account's secret changes and a webhook signed with it comes exactly one interval later
    secrets[0] = ROTATED
    clock.advance(SECRET_REFRESH_INTERVAL.total_seconds())
    update = provider.parse_webhook(signed(ROTATED, clock), BODY, signing_secret="unused")

    # Then the secret was fetched again and the webhook accepted
    assert update.state is ProviderState.SUCCEEDED


def test_an_account_secret_that_is_not_whsec_base64_is_an_error_no_retry_fixes() -> None:
    clock = FixedClock()

    with pytest.raises(ProviderError) as raised:
        replicate(["not base64!"], clock).parse_webhook(signed(FIRST, clock), BODY, signing_secret="unused")

    assert raised.value.retryable is False


def test_a_webhook_older_than_a_narrower_configured_age_is_refused() -> None:
    # Given a receiver that takes webhooks up to a minute old (the standard's own default is five)
    clock = FixedClock()
    provider = replicate([FIRST], clock, max_webhook_age=timedelta(minutes=1))
    headers = signed(FIRST, clock)

    # When a genuine delivery arrives two minutes after it was signed
    clock.advance(120)

    # Then it is refused as a replay would be
    with pytest.raises(WebhookUnauthorized):
        provider.parse_webhook(headers, BODY, signing_secret="unused")
