"""Webhook tokens carry their expiry, are checked in constant time, and survive a secret rotation."""

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
    expiry, digest = auth.token_for("job-1").split(".")

    with pytest.raises(WebhookUnauthorized):
        auth.verify_token("job-1", f"{int(expiry) + 86400}.{digest}")


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
