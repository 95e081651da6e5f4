"""What each provider can serve: the single source of truth for submit-time checks and the README."""

from __future__ import annotations

from dataclasses import dataclass

from videojobs.errors import RequestRejected
from videojobs.models import AspectRatio, JobRequest, ProviderName, Resolution

ALL_ASPECT_RATIOS: frozenset[AspectRatio] = frozenset({"auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"})


@dataclass(frozen=True)
class ProviderCapabilities:
    resolutions: frozenset[Resolution]
    min_duration: int
    max_duration: int
    aspect_ratios: frozenset[AspectRatio]
    first_frame: bool
    last_frame: bool
    max_reference_images: int
    max_reference_videos: int
    max_reference_audios: int
    #: Optional request fields the dialect has a parameter for.
    optional_fields: frozenset[str]


CAPABILITIES: dict[ProviderName, ProviderCapabilities] = {
    # ../shared/provider-docs/eachlabs-seedance-2.0.txt: the "fast" slugs, 480p/720p, 4-15 s.
    "eachlabs": ProviderCapabilities(
        resolutions=frozenset({"480p", "720p"}),
        min_duration=4,
        max_duration=15,
        aspect_ratios=ALL_ASPECT_RATIOS,
        first_frame=True,
        last_frame=True,
        max_reference_images=0,
        max_reference_videos=0,
        max_reference_audios=0,
        optional_fields=frozenset({"seed", "end_user_id"}),
    ),
}

OPTIONAL_FIELDS = ("seed", "watermark", "camera_fixed", "return_last_frame", "end_user_id")


def check_request(request: JobRequest) -> None:
    """Raise RequestRejected naming the first field the chosen provider cannot serve."""
    caps = CAPABILITIES.get(request.provider)
    if caps is None:
        raise RequestRejected("provider", f"'{request.provider}' is not available in this deployment")
    name = request.provider
    if request.resolution not in caps.resolutions:
        raise RequestRejected("resolution", f"{name} supports {_listed(caps.resolutions)}")
    if request.duration is not None and not caps.min_duration <= request.duration <= caps.max_duration:
        raise RequestRejected(
            "duration", f"{name} supports {caps.min_duration} to {caps.max_duration} seconds"
        )
    if request.aspect_ratio is not None and request.aspect_ratio not in caps.aspect_ratios:
        raise RequestRejected("aspect_ratio", f"{name} supports {_listed(caps.aspect_ratios)}")
    if request.first_frame_url is not None and not caps.first_frame:
        raise RequestRejected("first_frame_url", f"{name} does not take a first frame")
    if request.last_frame_url is not None:
        if request.first_frame_url is None:
            raise RequestRejected("last_frame_url", "a last frame needs first_frame_url as well")
        if not caps.last_frame:
            raise RequestRejected("last_frame_url", f"{name} does not take a last frame")
    for field, count, limit in (
        ("reference_image_urls", len(request.reference_image_urls), caps.max_reference_images),
        ("reference_video_urls", len(request.reference_video_urls), caps.max_reference_videos),
        ("reference_audio_urls", len(request.reference_audio_urls), caps.max_reference_audios),
    ):
        if count > limit:
            limit_text = "none" if limit == 0 else f"at most {limit}"
            raise RequestRejected(field, f"{name} accepts {limit_text}")
    for field in OPTIONAL_FIELDS:
        if getattr(request, field) is not None and field not in caps.optional_fields:
            raise RequestRejected(field, f"{name} has no such parameter")


def _listed(values: frozenset[str]) -> str:
    return ", ".join(sorted(values))


def markdown_table() -> str:
    """The capability table as the README shows it (a test keeps the README in step)."""
    lines = [
        "| provider | resolutions | duration (s) | aspect ratios | first / last frame "
        "| reference images / videos / audio | optional fields |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, caps in CAPABILITIES.items():
        frames = f"{'yes' if caps.first_frame else 'no'} / {'yes' if caps.last_frame else 'no'}"
        references = (
            f"{caps.max_reference_images} / {caps.max_reference_videos} / {caps.max_reference_audios}"
        )
        lines.append(
            f"| `{name}` | {_listed(caps.resolutions)} | {caps.min_duration}-{caps.max_duration} "
            f"| {_listed(caps.aspect_ratios)} | {frames} | {references} "
            f"| {', '.join(sorted(caps.optional_fields)) or '-'} |"
        )
    return "\n".join(lines)
