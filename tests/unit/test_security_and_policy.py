from datetime import timedelta

import pytest

from videojobs.download_policy import HostAllowlist
from videojobs.errors import OutputRejected, WebhookUnauthorized
from videojobs.security import WebhookAuthenticator


def test_tokens_are_per_job_and_verified() -> None:
    auth = WebhookAuthenticator(b"k" * 32, lifetime=timedelta(hours=1))
    auth.verify_token("job-1", auth.token_for("job-1"))
    assert auth.token_for("job-1") != auth.token_for("job-2")
    other = WebhookAuthenticator(b"x" * 32, lifetime=timedelta(hours=1))
    assert auth.token_for("job-1") != other.token_for("job-1")
    with pytest.raises(WebhookUnauthorized):
        auth.verify_token("job-2", auth.token_for("job-1"))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://cdn.eachlabs.ai/o.mp4", True),
        ("https://eachlabs.ai.evil.com/o.mp4", False),
        ("https://storage.googleapis.com/b/o.mp4", True),
        ("http://storage.googleapis.com/b/o.mp4", False),
        ("https://127.0.0.1:9000/o.mp4", False),
        ("http://127.0.0.1:9000/o.mp4", False),
        ("file:///etc/passwd", False),
    ],
)
def test_only_https_to_listed_hosts(url: str, allowed: bool) -> None:
    policy = HostAllowlist(["*.eachlabs.ai", "storage.googleapis.com"])
    if allowed:
        policy.check(url)
    else:
        with pytest.raises(OutputRejected):
            policy.check(url)


def test_local_mode_allows_plain_http_to_loopback_only() -> None:
    policy = HostAllowlist([], allow_loopback=True)
    policy.check("http://127.0.0.1:8900/eachlabs/outputs/x.mp4")
    policy.check("http://localhost:8900/x.mp4")
    with pytest.raises(OutputRejected):
        policy.check("http://10.0.0.5/x.mp4")
