"""Survivors of `make mutate` in pricing.py: a portrait frame is taller than wide."""

import pytest

from videojobs.models import Resolution
from videojobs.pricing import output_dimensions


@pytest.mark.parametrize(
    ("resolution", "ratio", "size"),
    [("720p", "16:9", (1280, 720)), ("720p", "9:16", (720, 1280)), ("1080p", "3:4", (1080, 1440))],
)
def test_the_short_side_is_the_resolutions_and_the_long_side_follows_the_ratio(
    resolution: Resolution, ratio: str, size: tuple[int, int]
) -> None:
    assert output_dimensions(resolution, ratio) == size
