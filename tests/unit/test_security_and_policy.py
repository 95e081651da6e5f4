import ipaddress
from datetime import timedelta

import pytest

from videojobs.download_policy import HostAllowlist, address_problem, is_public_address
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
        ("https://[cdn.eachlabs.ai/o.mp4", False),  # not a URL at all: refused, not an unexpected error
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


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # the EC2/ECS metadata endpoint
        "169.254.170.2",  # the ECS task credentials endpoint
        "fd00:ec2::254",  # the EC2 metadata endpoint over IPv6
        "fe80::1",
        "fe80::1%eth0",
        "100.64.0.1",  # CGNAT
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "ff02::1",
        "ff0e::1",
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",  # noqa: S104 - an address to check, not to bind
        "::",
        "192.0.2.1",
        "2001:db8::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:100.64.0.1",
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "::7f00:1",  # IPv4-compatible 127.0.0.1 (deprecated form)
        "::a00:1",
        "::808:808",  # IPv4-compatible forms are refused whatever they carry
        "::ffff:0:a00:1",  # SIIT-translated 10.0.0.1
    ],
)
def test_addresses_that_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    assert address_problem(ipaddress.ip_address(address), allow_loopback=False) is not None


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))
    assert address_problem(ipaddress.ip_address(address), allow_loopback=False) is None


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("169.254.169.254", False),
        ("fd00:ec2::254", False),
        ("0.0.0.0", False),  # noqa: S104
    ],
)
def test_local_mode_lets_loopback_addresses_through_and_nothing_else(address: str, allowed: bool) -> None:
    problem = address_problem(ipaddress.ip_address(address), allow_loopback=True)
    assert (problem is None) is allowed
