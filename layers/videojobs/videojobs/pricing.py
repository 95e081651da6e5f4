"""Cost estimates from the providers' published prices, recorded on each job at submit.

EachLabs charges per output second by resolution. Atlas Cloud charges per token, where
tokens = height × width × (input seconds + output seconds) × 24 / 1024, at $0.0112 per 1000 tokens,
or $0.00688 when video inputs are given. The gateway and the jobs API publish no prices: null.

An estimate is null whenever a quantity it needs is left to the provider (``duration`` or, for Atlas,
``aspect_ratio`` on auto). The length of reference videos is not known at submit, so with video inputs
Atlas's estimate counts the documented maximum of 15 input seconds: an upper bound.
"""

from __future__ import annotations

from decimal import Decimal

from videojobs.models import JobRequest, Resolution

EACHLABS_USD_PER_SECOND: dict[Resolution, Decimal] = {"480p": Decimal("0.1129"), "720p": Decimal("0.2419")}
ATLAS_USD_PER_1000_TOKENS = Decimal("0.0112")
ATLAS_USD_PER_1000_TOKENS_WITH_VIDEO_INPUT = Decimal("0.00688")
MAX_REFERENCE_VIDEO_SECONDS = 15
SHORT_SIDE: dict[Resolution, int] = {"480p": 480, "720p": 720, "1080p": 1080, "4k": 2160}


def output_dimensions(resolution: Resolution, aspect_ratio: str) -> tuple[int, int]:
    """(width, height): the short side is the resolution's, the long side follows the ratio."""
    ratio_width, ratio_height = (int(part) for part in aspect_ratio.split(":"))
    short = SHORT_SIDE[resolution]
    long = 2 * round(short * max(ratio_width, ratio_height) / min(ratio_width, ratio_height) / 2)
    return (long, short) if ratio_width >= ratio_height else (short, long)


def estimate_cost_usd(request: JobRequest) -> float | None:
    if request.duration is None:
        return None
    if request.provider == "eachlabs":
        rate = EACHLABS_USD_PER_SECOND.get(request.resolution)
        return None if rate is None else float(rate * request.duration)
    if request.provider == "atlascloud":
        return _atlas_cost(request, request.duration)
    return None


def _atlas_cost(request: JobRequest, output_seconds: int) -> float | None:
    if request.aspect_ratio is None or request.aspect_ratio == "auto":
        return None
    width, height = output_dimensions(request.resolution, request.aspect_ratio)
    with_video = bool(request.reference_video_urls)
    input_seconds = MAX_REFERENCE_VIDEO_SECONDS if with_video else 0
    tokens = Decimal(height * width * (input_seconds + output_seconds) * 24) / 1024
    rate = ATLAS_USD_PER_1000_TOKENS_WITH_VIDEO_INPUT if with_video else ATLAS_USD_PER_1000_TOKENS
    return float(round(tokens * rate / 1000, 4))
