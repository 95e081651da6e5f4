"""The arithmetic the providers' prices share: output frame sizes and Seedance's token count.

The price functions themselves live in the units (``videojobs.providers.<name>``), and the estimate a
job records comes from ``videojobs.catalog.estimates``.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from videojobs.models import JobRequest, Resolution

SHORT_SIDE: dict[Resolution, int] = {"480p": 480, "720p": 720, "1080p": 1080, "4k": 2160}


def output_dimensions(resolution: Resolution, aspect_ratio: str) -> tuple[int, int]:
    """(width, height): the short side is the resolution's, the long side follows the ratio."""
    ratio_width, ratio_height = (int(part) for part in aspect_ratio.split(":"))
    short = SHORT_SIDE[resolution]
    long = 2 * round(short * max(ratio_width, ratio_height) / min(ratio_width, ratio_height) / 2)
    return (long, short) if ratio_width >= ratio_height else (short, long)


#: Seedance renders 24 frames a second; token prices count frames.
FRAMES_PER_SECOND = 24
#: The length of reference videos is not known at submit: they count as the documented maximum of 15
#: input seconds in all, so an estimate with video inputs is an upper bound.
MAX_REFERENCE_VIDEO_SECONDS = 15


def video_tokens(request: JobRequest) -> Decimal | None:
    """Seedance 2.0's tokens as Atlas Cloud, fal and ModelArk price them: width × height × (input video
    seconds + output seconds) × 24 / 1024. None when the duration or the aspect ratio is left to the
    provider (then the frame count or size is not known)."""
    if request.duration is None or request.aspect_ratio is None or request.aspect_ratio == "auto":
        return None
    width, height = output_dimensions(request.resolution, request.aspect_ratio)
    input_seconds = MAX_REFERENCE_VIDEO_SECONDS if request.reference_video_urls else 0
    return Decimal(width * height * (input_seconds + request.duration) * FRAMES_PER_SECOND) / 1024


#: Spending is counted in integer micro-dollars, so sums never drift as floats do.
MICROS_PER_USD = 1_000_000


def usd_micros(amount: Decimal | float | str) -> int:
    """``amount`` USD in micro-dollars, rounded up (a float is taken by its shortest decimal form)."""
    exact = Decimal(str(amount)) * MICROS_PER_USD
    return int(exact.to_integral_value(rounding=ROUND_CEILING))


def micros_usd(micros: int) -> float:
    return float(Decimal(micros) / MICROS_PER_USD)
