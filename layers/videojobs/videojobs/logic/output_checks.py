"""Whether the video received is what the request asked for: its resolution class, its duration, and an
audio track when one was asked for. What differs is recorded (``video.checks``), not thrown."""

from __future__ import annotations

import math
from collections.abc import Mapping

from videojobs.catalog.capabilities import capabilities_of
from videojobs.models import Job, OutputCheck, Resolution, VideoMetadata

#: Each class's short side, and its pixel count at 16:9.
SHORT_SIDES: Mapping[Resolution, int] = {"480p": 480, "720p": 720, "1080p": 1080, "4k": 2160}
NOMINAL_PIXELS: Mapping[Resolution, int] = {
    "480p": 854 * 480,
    "720p": 1280 * 720,
    "1080p": 1920 * 1080,
    "4k": 3840 * 2160,
}
#: How far a short side may be from its class's: 704 and 1088 are encoders' multiples of 16.
SHORT_SIDE_TOLERANCE = 0.05
#: How far a pixel count may be from its class's, as a log ratio: within 0.8x to 1.25x.
PIXEL_COUNT_TOLERANCE = math.log(1.25)

#: Sizes providers emit, each with the class it is sold as; `resolution_classes` is tested against
#: every one (the table in docs/api.md). Sources: the issue's examples (864x480, 1248x704); Leonardo's
#: Seedance pages (docs.leonardo.ai: 1248x704 for 1.0 Lite at 720p, 1920x1088 for 1.0 Pro at 1080p,
#: 1280x720 for 2.0 at 720p); Geelark's Seedance 2.0 manual (640x640 at 480p, 834x1112 at 720p); and
#: what the simulator renders (the short side of the class, at every aspect ratio).
EMITTED_SIZES: Mapping[tuple[int, int], Resolution] = {
    (864, 480): "480p",
    (854, 480): "480p",
    (480, 854): "480p",
    (640, 640): "480p",
    (480, 480): "480p",
    (1120, 480): "480p",
    (1248, 704): "720p",
    (1280, 720): "720p",
    (720, 1280): "720p",
    (834, 1112): "720p",
    (720, 720): "720p",
    (1680, 720): "720p",
    (1920, 1088): "1080p",
    (1920, 1080): "1080p",
    (1080, 1920): "1080p",
    (1080, 1080): "1080p",
    (3840, 2160): "4k",
    (2160, 3840): "4k",
}

DURATION_TOLERANCE_SECONDS = 0.5
DURATION_TOLERANCE_SHARE = 0.05


def resolution_classes(width: int, height: int) -> set[Resolution]:
    """The classes a ``width`` x ``height`` video may be sold as: the one whose short side it has (within
    SHORT_SIDE_TOLERANCE), and the one whose pixel count it has (within PIXEL_COUNT_TOLERANCE).
    Providers that keep the pixel count across aspect ratios make 640x640 at 480p, so the short side
    alone cannot tell; the pixel count alone would put a 720x720 square at 480p. Empty for a size of
    no class (640x360, 2560x1440)."""
    short_side = min(width, height)
    classes = {
        name for name, side in SHORT_SIDES.items() if abs(short_side - side) <= SHORT_SIDE_TOLERANCE * side
    }
    pixels = max(1, width * height)
    classes.update(
        name
        for name, nominal in NOMINAL_PIXELS.items()
        if abs(math.log(pixels / nominal)) <= PIXEL_COUNT_TOLERANCE
    )
    return classes


def output_checks(job: Job, metadata: VideoMetadata) -> list[OutputCheck]:
    """Where ``metadata`` differs from what the job's request asked of its provider."""
    request = job.request
    checks: list[OutputCheck] = []
    if request.resolution not in resolution_classes(metadata.width, metadata.height):
        checks.append(
            OutputCheck(
                check="resolution", expected=request.resolution, actual=f"{metadata.width}x{metadata.height}"
            )
        )
    if request.duration is not None:
        tolerance = max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_SHARE * request.duration)
        if abs(metadata.duration_seconds - request.duration) > tolerance:
            checks.append(
                OutputCheck(
                    check="duration",
                    expected=f"{request.duration}s",
                    actual=f"{metadata.duration_seconds:g}s",
                )
            )
    if request.generate_audio and capabilities_of(job.provider).makes_audio and not metadata.has_audio:
        checks.append(OutputCheck(check="audio", expected="an audio track", actual="no audio track"))
    return checks
