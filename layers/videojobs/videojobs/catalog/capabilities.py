"""What each provider can serve: the rows (from the units), and the rules that read them at submit.

Each provider's row lives in its unit (``videojobs.providers.<name>``), citing the document it comes
from, as its differences from Seedance's own (``providers.unit.SEEDANCE``). The same rules are
published as JSON Schema by ``catalog.request_schema``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import get_args

from videojobs.errors import NoProviderServes, RequestRejected
from videojobs.models import AUTO, JobRequest, Operation, ProviderName, Resolution, Tier
from videojobs.providers import UNITS
from videojobs.providers.unit import ALL_ASPECT_RATIOS, Callbacks, ProviderCapabilities

__all__ = [
    "ALL_ASPECT_RATIOS",
    "CAPABILITIES",
    "Callbacks",
    "ProviderCapabilities",
    "capabilities_of",
    "check_provider_serves",
    "check_request",
    "effective_tier",
    "named_provider",
    "serving_problem",
]

OPTIONAL_FIELDS = ("seed", "watermark", "camera_fixed", "return_last_frame", "end_user_id")


@dataclass(frozen=True)
class OperationRule:
    """The inputs a compat-layer operation takes; anything else mixed in is refused."""

    needs_first_frame: bool = False
    needs_last_frame: bool = False
    reference_videos: tuple[int, int] = (0, 0)
    takes_reference_images: bool = False
    takes_reference_audio: bool = False
    needs_some_reference: bool = False


OPERATION_RULES: Mapping[Operation, OperationRule] = {
    "first_last_frame": OperationRule(needs_first_frame=True, needs_last_frame=True),
    "reference_to_video": OperationRule(
        reference_videos=(0, 3),
        takes_reference_images=True,
        takes_reference_audio=True,
        needs_some_reference=True,
    ),
    "edit_video": OperationRule(reference_videos=(1, 1), takes_reference_images=True),
    "extend_video": OperationRule(reference_videos=(1, 1)),
}


#: Each provider's row, from its unit (videojobs.providers.<name>).
CAPABILITIES: Mapping[ProviderName, ProviderCapabilities] = {
    name: unit.capabilities for name, unit in UNITS.items()
}


def capabilities_of(provider: ProviderName) -> ProviderCapabilities:
    caps = CAPABILITIES.get(provider)
    if caps is None:
        raise RequestRejected("provider", f"'{provider}' is not available in this deployment")
    return caps


def named_provider(request: JobRequest) -> ProviderName:
    """The provider a request sent to one names (``JobRequest.for_provider``)."""
    if request.provider == AUTO:
        raise TypeError('a request for provider "auto" has no one provider: route it first')
    return request.provider


def effective_tier(request: JobRequest) -> Tier:
    return request.tier or capabilities_of(named_provider(request)).default_tier


def check_request(request: JobRequest) -> None:
    """Raise RequestRejected naming the first field the request's provider cannot serve; for
    ``"auto"``, NoProviderServes when none of the providers it may go to serves it."""
    if request.provider == AUTO:
        pool = request.providers or list(CAPABILITIES)
        problems = [problem for name in pool if (problem := serving_problem(request, name)) is not None]
        if len(problems) == len(pool):
            raise NoProviderServes(problems)
        return
    check_provider_serves(request)


def serving_problem(request: JobRequest, provider: ProviderName) -> RequestRejected | None:
    """Why ``provider`` cannot serve the request; None when it can."""
    try:
        check_provider_serves(request.for_provider(provider))
    except RequestRejected as problem:
        return problem
    return None


def check_provider_serves(request: JobRequest) -> None:
    """Raise RequestRejected naming the first field the named provider cannot serve."""
    name = named_provider(request)
    caps = capabilities_of(name)
    if request.tier is not None and request.tier not in caps.tiers:
        raise RequestRejected("tier", f"{name} offers {_listed(caps.tiers)}")
    tier = effective_tier(request)
    if request.resolution not in caps.tiers[tier]:
        raise RequestRejected(
            "resolution", f"{name} ({tier}) supports {_listed_resolutions(caps.tiers[tier])}"
        )
    if request.duration is not None and not caps.min_duration <= request.duration <= caps.max_duration:
        raise RequestRejected(
            "duration", f"{name} supports {caps.min_duration} to {caps.max_duration} seconds"
        )
    if request.aspect_ratio is not None and request.aspect_ratio not in caps.aspect_ratios:
        raise RequestRejected("aspect_ratio", f"{name} supports {_listed(caps.aspect_ratios)}")
    if not request.generate_audio and not caps.audio_switch:
        raise RequestRejected("generate_audio", f"{name} has no switch for audio; it is always generated")
    if request.operation is not None:
        if request.operation not in caps.operations:
            raise RequestRejected("operation", f"{name} has no compat operations")
        _check_operation(request, request.operation)
    _check_media(request, caps)
    for field_name in OPTIONAL_FIELDS:
        if getattr(request, field_name) is not None and field_name not in caps.optional_fields:
            raise RequestRejected(field_name, f"{name} has no such parameter")


def _check_media(request: JobRequest, caps: ProviderCapabilities) -> None:
    name = named_provider(request)
    if request.first_frame_url is not None and not caps.first_frame:
        raise RequestRejected("first_frame_url", f"{name} does not take a first frame")
    if request.last_frame_url is not None:
        if request.first_frame_url is None:
            raise RequestRejected("last_frame_url", "a last frame needs first_frame_url as well")
        if not caps.last_frame:
            raise RequestRejected("last_frame_url", f"{name} does not take a last frame")
    for field_name, count, limit in (
        ("reference_image_urls", len(request.reference_image_urls), caps.max_reference_images),
        ("reference_video_urls", len(request.reference_video_urls), caps.max_reference_videos),
        ("reference_audio_urls", len(request.reference_audio_urls), caps.max_reference_audios),
    ):
        if count > limit:
            limit_text = "none" if limit == 0 else f"at most {limit}"
            raise RequestRejected(field_name, f"{name} accepts {limit_text}")
    references = {
        "reference_image_urls": request.reference_image_urls,
        "reference_video_urls": request.reference_video_urls,
        "reference_audio_urls": request.reference_audio_urls,
    }
    if request.first_frame_url is not None and not caps.frames_with_references:
        for field_name, urls in references.items():
            if urls:
                raise RequestRejected(field_name, f"{name} takes first_frame_url or references, not both")
    if request.reference_audio_urls and not (request.reference_image_urls or request.reference_video_urls):
        raise RequestRejected(
            "reference_audio_urls", "needs reference_image_urls or reference_video_urls too"
        )
    files = sum(len(urls) for urls in references.values())
    files += (request.first_frame_url is not None) + (request.last_frame_url is not None)
    if caps.max_media_files is not None and files > caps.max_media_files:
        raise RequestRejected(
            "reference_image_urls", f"{name} takes at most {caps.max_media_files} media files in all"
        )


def _check_operation(request: JobRequest, operation: Operation) -> None:
    rule = OPERATION_RULES[operation]
    problem: str | None = None
    low, high = rule.reference_videos
    if (request.first_frame_url is not None) != rule.needs_first_frame:
        problem = "needs first_frame_url" if rule.needs_first_frame else "cannot take first_frame_url"
    elif (request.last_frame_url is not None) != rule.needs_last_frame:
        problem = "needs last_frame_url" if rule.needs_last_frame else "cannot take last_frame_url"
    elif not low <= len(request.reference_video_urls) <= high:
        problem = f"takes exactly {low} reference_video_urls" if low == high else "takes at most 3 videos"
    elif request.reference_image_urls and not rule.takes_reference_images:
        problem = "cannot take reference_image_urls"
    elif request.reference_audio_urls and not rule.takes_reference_audio:
        problem = "cannot take reference_audio_urls"
    elif rule.needs_some_reference and not (request.reference_image_urls or request.reference_video_urls):
        problem = "needs reference_image_urls or reference_video_urls"
    if problem is not None:
        raise RequestRejected("operation", f"{operation} {problem}")


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _listed_resolutions(values: Iterable[Resolution]) -> str:
    return ", ".join(resolution for resolution in get_args(Resolution) if resolution in set(values))


def markdown_table() -> str:
    """The capability table as docs/providers.md shows it (a test keeps that page in step)."""
    lines = [
        "| provider | tiers: resolutions | duration (s) | aspect ratios | first / last frame "
        "| reference images / videos / audio | optional fields | operations | callbacks | s3:// inputs |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, caps in CAPABILITIES.items():
        tiers = "; ".join(f"{tier}: {_listed_resolutions(res)}" for tier, res in caps.tiers.items())
        frames = f"{'yes' if caps.first_frame else 'no'} / {'yes' if caps.last_frame else 'no'}"
        references = (
            f"{caps.max_reference_images} / {caps.max_reference_videos} / {caps.max_reference_audios}"
        )
        optional = sorted(caps.optional_fields | ({"generate_audio"} if caps.audio_switch else set()))
        lines.append(
            f"| `{name}` | {tiers} | {caps.min_duration}-{caps.max_duration} "
            f"| {_listed(caps.aspect_ratios)} | {frames} | {references} "
            f"| {', '.join(optional)} | {_listed(caps.operations) or '-'} | {caps.callbacks.value} "
            f"| {'upload endpoint' if caps.uploads else 'presigned URL'} |"
        )
    return "\n".join(lines)
