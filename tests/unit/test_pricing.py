"""cost_estimate_usd from the documents' prices."""

from typing import Any

import pytest

from videojobs.models import JobRequest
from videojobs.pricing import estimate_cost_usd, output_dimensions


def cost(**fields: Any) -> float | None:
    return estimate_cost_usd(JobRequest.model_validate({"prompt": "p", **fields}))


def test_eachlabs_charges_per_second_by_resolution_as_its_document_shows() -> None:
    # The document's own examples: a 6-second 720p clip is about $1.45, 10 seconds of 480p $1.13.
    assert cost(provider="eachlabs", resolution="720p", duration=6) == pytest.approx(1.4514)
    assert cost(provider="eachlabs", resolution="480p", duration=10) == pytest.approx(1.129)


def test_atlas_charges_tokens_of_height_by_width_by_seconds() -> None:
    # 1280 x 720 x 24 / 1024 = 21600 tokens a second; $0.0112 per 1000 is the documented $0.2419/s.
    assert output_dimensions("720p", "16:9") == (1280, 720)
    assert cost(provider="atlascloud", resolution="720p", aspect_ratio="16:9", duration=4) == 0.9677
    assert cost(provider="atlascloud", resolution="720p", aspect_ratio="9:16", duration=5) == 1.2096
    assert cost(provider="atlascloud", resolution="1080p", aspect_ratio="1:1", duration=4) == pytest.approx(
        1080 * 1080 * 4 * 24 / 1024 * 0.0112 / 1000, abs=1e-4
    )


def test_atlas_with_video_input_uses_the_lower_rate_over_the_longest_input() -> None:
    # With video input the documented 720p price is $0.1486 per second; the input's 15 s count too.
    estimate = cost(
        provider="atlascloud",
        resolution="720p",
        aspect_ratio="16:9",
        duration=5,
        reference_video_urls=["https://cdn.example.com/a.mp4"],
    )
    assert estimate == pytest.approx(21600 * (15 + 5) * 0.00688 / 1000, abs=1e-4)


@pytest.mark.parametrize(
    "fields",
    [
        {"provider": "eachlabs", "resolution": "720p"},
        {"provider": "atlascloud", "duration": 5},
        {"provider": "atlascloud", "duration": 5, "aspect_ratio": "auto"},
        {"provider": "gateway", "duration": 5},
        {"provider": "jobs_api", "duration": 5},
    ],
)
def test_an_estimate_is_null_when_a_quantity_or_a_price_is_unknown(fields: dict[str, Any]) -> None:
    assert cost(**fields) is None
