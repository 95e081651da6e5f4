"""Survivors of `make mutate` in download_policy.py: the edges the other tests left open.

Each test names what a mutant changed and no other test noticed: a hostname taken for loopback, the
IPv4-mapped loopback, https to loopback in local mode, each private suffix, a public address literal, the
subdomain wildcard's dot, and the reasons callers are given for a refused notify_url."""

import ipaddress

import pytest

from videojobs.download_policy import HostAllowlist, address_problem, public_url_problem
from videojobs.errors import OutputRejected


def test_a_host_name_is_not_loopback_even_where_loopback_is_allowed() -> None:
    # Given local mode, which lets plain http through to loopback only
    allowlist = HostAllowlist(["cdn.example.com"], allow_loopback=True)

    # When / Then: a name that is not an address is not loopback
    assert public_url_problem("http://example.com/hook", allow_loopback=True) == "must be an https:// URL"
    with pytest.raises(OutputRejected):
        allowlist.check("http://example.com/out.mp4")


def test_the_ipv4_mapped_loopback_is_loopback() -> None:
    mapped = ipaddress.ip_address("::ffff:127.0.0.1")

    assert address_problem(mapped, allow_loopback=True) is None
    assert address_problem(mapped, allow_loopback=False) == "::ffff:127.0.0.1 is a loopback address"


@pytest.mark.parametrize("url", ["https://127.0.0.1:8443/hook", "https://localhost/hook"])
def test_https_to_loopback_is_allowed_in_local_mode(url: str) -> None:
    assert public_url_problem(url, allow_loopback=True) is None
    HostAllowlist([], allow_loopback=True).check(url)


@pytest.mark.parametrize(
    "host", ["localhost", "api.localhost", "metadata.google.internal", "printer.local", "X.LOCAL"]
)
def test_every_private_suffix_is_refused(host: str) -> None:
    assert (
        public_url_problem(f"https://{host}/hook", allow_loopback=False) == "must not point at a private host"
    )


def test_a_public_address_literal_is_allowed_and_a_private_one_is_not() -> None:
    assert public_url_problem("https://93.184.216.34/hook", allow_loopback=False) is None
    assert (
        public_url_problem("https://10.0.0.1/hook", allow_loopback=False)
        == "must not point at a private, loopback or link-local address"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https:///hook", "must name a host"),
        ("ftp://example.com/hook", "must be an https:// URL"),
    ],
)
def test_a_refused_notify_url_is_told_why(url: str, reason: str) -> None:
    # The reason is what a 422 names: it is the API's text, so it is held here word for word.
    assert public_url_problem(url, allow_loopback=False) == reason


def test_a_wildcard_matches_subdomains_only_not_names_that_end_the_same() -> None:
    allowlist = HostAllowlist(["*.example.com"])

    allowlist.check("https://cdn.example.com/out.mp4")
    with pytest.raises(OutputRejected):
        allowlist.check("https://badexample.com/out.mp4")


def test_a_notify_url_with_an_unclosed_ipv6_bracket_is_told_why() -> None:
    # JobRequest's notify_url check (scheme://something) lets it through to the intake, where it is a 422.
    assert public_url_problem("https://[::1/hook", allow_loopback=False) == "must be a valid URL"
