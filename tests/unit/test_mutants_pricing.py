"""Survivors of `make mutate` in pricing.py and the providers' price functions: a portrait frame is taller
than wide; ModelArk's rate is per million tokens, exactly."""

import pytest

from videojobs.models import JobRequest, Resolution
from videojobs.pricing import output_dimensions
from videojobs.providers.byteplus import estimate_cost_usd


@pytest.mark.parametrize(
    ("resolution", "ratio", "size"),
    [("720p", "16:9", (1280, 720)), ("720p", "9:16", (720, 1280)), ("1080p", "3:4", (1080, 1440))],
)
def test_the_short_side_is_the_resolutions_and_the_long_side_follows_the_ratio(
    resolution: Resolution, ratio: str, size: tuple[int, int]
) -> None:
    assert output_dimensions(resolution, ratio) == size


def test_modelark_prices_tokens_at_its_rate_per_million_rounded_to_a_hundredth_of_a_cent() -> None:
    # 1680 x 720 px x 15 s x 24 frames / 1024 = 425,250 tokens, at 7.0 USD per million: 2.97675
    request = JobRequest(provider="byteplus", prompt="p", resolution="720p", aspect_ratio="21:9", duration=15)

    assert estimate_cost_usd(request) == 2.9768
