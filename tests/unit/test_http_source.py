"""The downloader's redirect loop at its HTTP boundary (httpx.MockTransport): every hop is held to the
provider's download policy before it is requested, not only the first. The pinned transport under it
(addresses, TLS) is tested against loopback servers in test_pinned_http.py."""

import httpx
import pytest

from tests.support import fake_mp4
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.download_policy import HostAllowlist
from videojobs.errors import OutputRejected

FIRST_HOP = "https://cdn.example.com/out.mp4"


class FakeCdn:
    """Answers ``redirects`` (url -> Location) with a 302 and any other URL with an MP4; records every
    request it gets."""

    def __init__(self, redirects: dict[str, str]) -> None:
        self.redirects = redirects
        self.requested: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requested.append(str(request.url))
        location = self.redirects.get(str(request.url))
        if location is not None:
            return httpx.Response(302, headers={"location": location})
        return httpx.Response(200, content=fake_mp4(), headers={"content-type": "video/mp4"})


@pytest.mark.parametrize(
    ("second_hop", "reason"),
    [
        ("https://videos.elsewhere.example.net/out.mp4", "not in the provider's allowlist"),
        ("http://cdn.example.com/out.mp4", "must be https"),
    ],
    ids=["host outside the allowlist", "plain http on an allowlisted host"],
)
def test_a_redirect_hop_outside_the_download_policy_is_refused_before_it_is_requested(
    second_hop: str, reason: str
) -> None:
    # Given an allowlisted https output URL that redirects off the policy
    cdn = FakeCdn({FIRST_HOP: second_hop})
    source = HttpVideoSource(httpx.Client(transport=httpx.MockTransport(cdn.handle)))

    # When the transfer opens it
    with (
        pytest.raises(OutputRejected, match=reason),
        source.open(FIRST_HOP, HostAllowlist(["cdn.example.com"])),
    ):
        pass

    # Then only the first hop was ever requested
    assert cdn.requested == [FIRST_HOP]
