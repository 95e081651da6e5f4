"""Survivors of `make mutate` in EachLabs' webhook check: a missing timestamp, a signature with a bad
timestamp, and a delivery exactly as old as the window."""

from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from tests.support import FixedClock, sign_eachlabs
from videojobs.errors import WebhookUnauthorized
from videojobs.models import ProviderState
from videojobs.providers.eachlabs.adapter import EachLabsProvider

SECRET = "s3cret"
BODY = b'{"exec_id": "pred-9", "status": "succeeded", "output": "https://cdn.eachlabs.ai/v.mp4"}'


def provider(clock: FixedClock) -> EachLabsProvider:
    return EachLabsProvider(
        httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500))),
        base_url="https://api.eachlabs.ai/",
        api_key=SecretStr("key-123"),
        clock=clock,
        max_webhook_age=timedelta(minutes=5),
    )


def test_a_signature_without_a_timestamp_is_unauthorized() -> None:
    clock = FixedClock()
    headers = sign_eachlabs(SECRET, BODY, int(clock.now.timestamp()))
    del headers["x-webhook-timestamp"]

    with pytest.raises(WebhookUnauthorized):
        provider(clock).parse_webhook(headers, BODY, signing_secret=SECRET)


def test_a_signature_with_a_timestamp_that_is_not_a_number_is_unauthorized() -> None:
    clock = FixedClock()
    headers = {**sign_eachlabs(SECRET, BODY, int(clock.now.timestamp())), "x-webhook-timestamp": "soon"}

    with pytest.raises(WebhookUnauthorized):
        provider(clock).parse_webhook(headers, BODY, signing_secret=SECRET)


def test_a_delivery_exactly_as_old_as_the_window_is_accepted() -> None:
    clock = FixedClock()
    headers = sign_eachlabs(SECRET, BODY, int(clock.now.timestamp()) - 300)

    update = provider(clock).parse_webhook(headers, BODY, signing_secret=SECRET)

    assert update.state is ProviderState.SUCCEEDED
