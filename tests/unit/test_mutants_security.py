"""Survivors of `make mutate` in security.py and standard_webhooks.py: what a webhook URL carries, and
an unpadded secret whose length leaves one padding character out."""

import base64
import binascii
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import FixedClock
from videojobs.security import WebhookAuthenticator
from videojobs.standard_webhooks import StandardWebhook


@pytest.mark.parametrize(
    ("base_url", "route"),
    [
        ("https://api.example.com", "https://api.example.com/webhooks"),
        ("https://api.example.com/", "https://api.example.com/webhooks"),
        ("https://api.example.com/stageX/", "https://api.example.com/stageX/webhooks"),
    ],
)
def test_a_webhook_target_is_the_jobs_own_url_token_and_signing_secret(base_url: str, route: str) -> None:
    # Given the pipeline's authenticator
    auth = WebhookAuthenticator(b"s" * 32, lifetime=timedelta(hours=26), clock=FixedClock())

    # When a target is made for a job
    target = auth.target_for(base_url, "eachlabs", "job 1")

    # Then its URL is the webhook route under the base URL, once, with a token for that job
    parts = urlsplit(target.url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{route}/eachlabs/job%201"
    token = parse_qs(parts.query)["token"][0]
    assert auth.verify_token("job 1", token) == auth.signing_secret_for("job 1")
    assert target.signing_secret == auth.signing_secret_for("job 1")


def test_an_unpadded_secret_one_character_short_of_a_block_is_accepted() -> None:
    # Given b"ab", whose base64 "YWI=" loses one "=" when unpadded
    unpadded = base64.b64encode(b"ab").decode().rstrip("=")
    assert len(unpadded) % 4 == 3

    # Then it is the same secret as the padded one (three "=" would be refused as base64)
    assert StandardWebhook(unpadded).sign("msg", 1, b"{}") == StandardWebhook("YWI=").sign("msg", 1, b"{}")
    with pytest.raises(binascii.Error):
        base64.b64decode(unpadded + "===", validate=True)
