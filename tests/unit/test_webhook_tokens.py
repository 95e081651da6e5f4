"""Webhook tokens carry their expiry, are checked in constant time, and survive a secret rotation."""

import hashlib
import hmac
from datetime import timedelta

import pytest

from tests.support import FixedClock
from videojobs.errors import WebhookUnauthorized
from videojobs.security import WebhookAuthenticator

CURRENT, PREVIOUS = b"c" * 32, b"p" * 32
LIFETIME = timedelta(hours=26)


def authenticator(*secrets: bytes, clock: FixedClock) -> WebhookAuthenticator:
    return WebhookAuthenticator(list(secrets), lifetime=LIFETIME, clock=clock)


def test_a_token_names_its_expiry_and_works_until_then() -> None:
    clock = FixedClock()
    auth = authenticator(CURRENT, clock=clock)
    token = auth.token_for("job-1")

    assert token.split(".")[0] == str(int((clock.now + LIFETIME).timestamp()))
    assert auth.verify_token("job-1", token) == auth.signing_secret_for("job-1")
    clock.advance(LIFETIME.total_seconds() - 1)
    auth.verify_token("job-1", token)
    clock.advance(1)
    with pytest.raises(WebhookUnauthorized):
        auth.verify_token("job-1", token)


@pytest.mark.parametrize("token", [None, "", "abc", "123", "123.", ".abc", "notanumber.abcd"])
def test_a_malformed_token_is_refused(token: str | None) -> None:
    with pytest.raises(WebhookUnauthorized):
        authenticator(CURRENT, clock=FixedClock()).verify_token("job-1", token)


def test_a_changed_expiry_breaks_the_token() -> None:
    clock = FixedClock()
    auth = authenticator(CURRENT, clock=clock)
    expiry, attempt, digest = auth.token_for("job-1").split(".")

    with pytest.raises(WebhookUnauthorized):
        auth.verify_token("job-1", f"{int(expiry) + 86400}.{attempt}.{digest}")


def test_a_token_names_the_provider_turn_it_was_made_for_and_a_changed_turn_breaks_it() -> None:
    auth = authenticator(CURRENT, clock=FixedClock())
    token = auth.token_for("job-1", attempt=2)
    assert auth.verify("job-1", token).attempt == 2
    expiry, _, digest = token.split(".")
    for forged in (
        f"{expiry}.1.{digest}",
        f"{expiry}.3.{digest}",
        f"{expiry}.02.{digest}",
        f"{expiry}.{digest}",
    ):
        with pytest.raises(WebhookUnauthorized):
            auth.verify("job-1", forged)


def test_a_token_made_before_turns_were_counted_is_the_first_turns() -> None:
    clock = FixedClock()
    auth = authenticator(CURRENT, clock=clock)
    expiry = int((clock() + timedelta(hours=1)).timestamp())
    digest = hmac.new(CURRENT, f"webhook-token:{expiry}:job-1".encode(), hashlib.sha256).hexdigest()
    verified = auth.verify("job-1", f"{expiry}.{digest}")
    assert verified.attempt == 1
    assert verified.signing_secret == auth.signing_secret_for("job-1")


def test_during_a_rotation_the_previous_secrets_tokens_still_work_and_sign_as_before() -> None:
    clock = FixedClock()
    before = authenticator(PREVIOUS, clock=clock)
    old_token = before.token_for("job-1")
    during = authenticator(CURRENT, PREVIOUS, clock=clock)

    # The job in flight keeps working, and its webhooks are checked with the secret it was given.
    assert during.verify_token("job-1", old_token) == before.signing_secret_for("job-1")
    # New jobs get the current secret.
    new_token = during.token_for("job-2")
    assert authenticator(CURRENT, clock=clock).verify_token("job-2", new_token)
    with pytest.raises(WebhookUnauthorized):
        before.verify_token("job-2", new_token)


def test_after_the_rotation_the_previous_secrets_tokens_are_refused() -> None:
    clock = FixedClock()
    old_token = authenticator(PREVIOUS, clock=clock).token_for("job-1")

    with pytest.raises(WebhookUnauthorized):
        authenticator(CURRENT, clock=clock).verify_token("job-1", old_token)


def test_a_genuine_token_stating_an_expiry_ten_years_out_is_refused_like_a_forged_one() -> None:
    clock = FixedClock()
    auth = authenticator(CURRENT, clock=clock)
    decade = auth.token_for("job-1", expires_at=clock.now + timedelta(days=3650))

    with pytest.raises(WebhookUnauthorized) as refused:
        auth.verify_token("job-1", decade)
    assert str(refused.value) == "missing or wrong webhook token"  # says no more than for a forgery


def test_a_token_may_state_no_expiry_beyond_the_longest_a_job_needs_plus_the_clock_skew() -> None:
    clock = FixedClock()
    auth = WebhookAuthenticator(CURRENT, lifetime=LIFETIME, clock=clock, max_clock_skew=timedelta(minutes=5))
    # Minted by a function whose clock runs five minutes ahead: still a token we could have made.
    ahead = auth.token_for("job-1", expires_at=clock.now + LIFETIME + timedelta(minutes=5))
    too_far = auth.token_for("job-1", expires_at=clock.now + LIFETIME + timedelta(minutes=5, seconds=1))

    assert auth.verify_token("job-1", ahead) == auth.signing_secret_for("job-1")
    with pytest.raises(WebhookUnauthorized):
        auth.verify_token("job-1", too_far)
