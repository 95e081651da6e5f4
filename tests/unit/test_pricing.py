"""cost_estimate_usd from the documents' prices."""

from typing import Any

import pytest

from videojobs.catalog.estimates import estimate_cost_usd
from videojobs.models import JobRequest
from videojobs.pricing import output_dimensions
from videojobs.providers import UNITS, byteplus, eachlabs, fal


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
        {"provider": "replicate", "duration": 5, "aspect_ratio": "16:9"},
    ],
)
def test_an_estimate_is_null_when_a_quantity_or_a_price_is_unknown(fields: dict[str, Any]) -> None:
    assert cost(**fields) is None


VIDEO = {"reference_video_urls": ["https://cdn.example.com/reference.mp4"]}

#: One request per row of every price table: 16:9 and 5 output seconds, plus 15 input seconds when a
#: reference video is given. The prices are the documents' as docs/providers.md "Pricing" and
#: docs/provider-dialects.md give them, worked out by hand. Tokens a second, width × height × 24 / 1024:
#: 480p 854 × 480 = 9,607.5; 720p 1280 × 720 = 21,600; 1080p 1920 × 1080 = 48,600; 4K 3840 × 2160 = 194,400.
PRICED_ROWS = [
    # EachLabs, per output second.
    pytest.param("eachlabs", {"resolution": "480p"}, 0.5645, id="eachlabs 480p: 5 x $0.1129"),
    pytest.param("eachlabs", {"resolution": "720p"}, 1.2095, id="eachlabs 720p: 5 x $0.2419"),
    # Atlas Cloud, per 1000 tokens.
    pytest.param("atlascloud", {"resolution": "720p"}, 1.2096, id="atlas: 108,000 tokens x $0.0112/k"),
    pytest.param(
        "atlascloud", {"resolution": "720p", **VIDEO}, 2.9722, id="atlas video: 432,000 x $0.00688/k"
    ),
    # fal, per 1000 tokens, x 0.6 with video input.
    pytest.param(
        "fal", {"tier": "standard", "resolution": "720p"}, 1.512, id="fal standard: 108,000 x $0.014/k"
    ),
    pytest.param("fal", {"tier": "fast", "resolution": "720p"}, 1.2096, id="fal fast: 108,000 x $0.0112/k"),
    pytest.param(
        "fal",
        {"tier": "standard", "resolution": "720p", **VIDEO},
        3.6288,
        id="fal standard video: 432,000 x $0.014/k x 0.6",
    ),
    pytest.param(
        "fal",
        {"tier": "fast", "resolution": "720p", **VIDEO},
        2.903,
        id="fal fast video: 432,000 x $0.0112/k x 0.6",
    ),
    # BytePlus ModelArk, per million tokens, without / with video input.
    pytest.param(
        "byteplus", {"tier": "standard", "resolution": "480p"}, 0.3363, id="modelark standard 480p: $7.0/M"
    ),
    pytest.param(
        "byteplus",
        {"tier": "standard", "resolution": "480p", **VIDEO},
        0.8262,
        id="modelark standard 480p video: $4.3/M",
    ),
    pytest.param(
        "byteplus", {"tier": "standard", "resolution": "720p"}, 0.756, id="modelark standard 720p: $7.0/M"
    ),
    pytest.param(
        "byteplus",
        {"tier": "standard", "resolution": "720p", **VIDEO},
        1.8576,
        id="modelark standard 720p video: $4.3/M",
    ),
    pytest.param(
        "byteplus", {"tier": "standard", "resolution": "1080p"}, 1.8711, id="modelark standard 1080p: $7.7/M"
    ),
    pytest.param(
        "byteplus",
        {"tier": "standard", "resolution": "1080p", **VIDEO},
        4.5684,
        id="modelark standard 1080p video: $4.7/M",
    ),
    pytest.param(
        "byteplus", {"tier": "standard", "resolution": "4k"}, 3.888, id="modelark standard 4k: $4.0/M"
    ),
    pytest.param(
        "byteplus",
        {"tier": "standard", "resolution": "4k", **VIDEO},
        9.3312,
        id="modelark standard 4k video: $2.4/M",
    ),
    pytest.param("byteplus", {"tier": "fast", "resolution": "480p"}, 0.269, id="modelark fast 480p: $5.6/M"),
    pytest.param(
        "byteplus",
        {"tier": "fast", "resolution": "480p", **VIDEO},
        0.6341,
        id="modelark fast 480p video: $3.3/M",
    ),
    pytest.param("byteplus", {"tier": "fast", "resolution": "720p"}, 0.6048, id="modelark fast 720p: $5.6/M"),
    pytest.param(
        "byteplus",
        {"tier": "fast", "resolution": "720p", **VIDEO},
        1.4256,
        id="modelark fast 720p video: $3.3/M",
    ),
    pytest.param("byteplus", {"tier": "mini", "resolution": "480p"}, 0.1681, id="modelark mini 480p: $3.5/M"),
    pytest.param(
        "byteplus",
        {"tier": "mini", "resolution": "480p", **VIDEO},
        0.4035,
        id="modelark mini 480p video: $2.1/M",
    ),
    pytest.param("byteplus", {"tier": "mini", "resolution": "720p"}, 0.378, id="modelark mini 720p: $3.5/M"),
    pytest.param(
        "byteplus",
        {"tier": "mini", "resolution": "720p", **VIDEO},
        0.9072,
        id="modelark mini 720p video: $2.1/M",
    ),
]


@pytest.mark.parametrize(("provider", "fields", "usd"), PRICED_ROWS)
def test_every_row_of_every_price_table_gives_the_documented_price(
    provider: str, fields: dict[str, Any], usd: float
) -> None:
    assert cost(provider=provider, aspect_ratio="16:9", duration=5, **fields) == usd


def row_of(provider: str, fields: dict[str, Any]) -> tuple[object, ...]:
    """The row of ``provider``'s price table a request of PRICED_ROWS is priced by."""
    video = "reference_video_urls" in fields
    return {
        "eachlabs": (provider, fields["resolution"]),
        "atlascloud": (provider, video),
        "fal": (provider, fields.get("tier"), video),
        "byteplus": (provider, fields.get("tier"), fields.get("resolution"), video),
    }[provider]


def test_the_priced_rows_are_every_row_of_every_providers_price_table() -> None:
    # A provider that gains prices, or a table that gains a row, needs its documented price above.
    tables: set[tuple[object, ...]] = {
        *(("eachlabs", resolution) for resolution in eachlabs.USD_PER_SECOND),
        *(("atlascloud", video) for video in (False, True)),
        *(("fal", tier, video) for tier in fal.USD_PER_1000_TOKENS for video in (False, True)),
        *(
            ("byteplus", tier, resolution, video)
            for tier, rows in byteplus.USD_PER_MILLION_TOKENS.items()
            for resolution in rows
            for video in (False, True)
        ),
    }
    priced = [row_of(*row.values[:2]) for row in PRICED_ROWS]

    assert {name for name, unit in UNITS.items() if unit.estimate_cost_usd is not None} == {
        "eachlabs",
        "atlascloud",
        "fal",
        "byteplus",
    }
    assert sorted(priced, key=repr) == sorted(tables, key=repr)
