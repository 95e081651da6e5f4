"""What each provider can serve, checked at submit, published in the request schema and the README.

Each provider's row lives in its unit (``videojobs.providers.<name>``), citing the document it comes
from; this module holds the rules that read the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

from videojobs.errors import RequestRejected
from videojobs.models import AspectRatio, JobRequest, Operation, ProviderName, Resolution, Tier
from videojobs.providers import UNITS
from videojobs.providers.unit import ALL_ASPECT_RATIOS, Callbacks, ProviderCapabilities

__all__ = ["ALL_ASPECT_RATIOS", "CAPABILITIES", "Callbacks", "ProviderCapabilities", "check_request"]

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


def effective_tier(request: JobRequest) -> Tier:
    return request.tier or capabilities_of(request.provider).default_tier


def check_request(request: JobRequest) -> None:
    """Raise RequestRejected naming the first field the chosen provider cannot serve."""
    caps = capabilities_of(request.provider)
    name = request.provider
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
    name = request.provider
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


JsonSchema = dict[str, Any]
_REFERENCE_FIELDS = ("reference_image_urls", "reference_video_urls", "reference_audio_urls")


def _absent(*names: str) -> JsonSchema:
    return {"properties": {name: {"type": "null"} for name in names}}


def _present(name: str) -> JsonSchema:
    return {"required": [name], "properties": {name: {"type": "string"}}}


def _at_most(name: str, count: int) -> JsonSchema:
    return {"properties": {name: {"maxItems": count}}}


def _some(name: str) -> JsonSchema:
    return {"required": [name], "properties": {name: {"minItems": 1}}}


def _tier_rules(caps: ProviderCapabilities) -> JsonSchema:
    alternatives = _tier_choices(caps)
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}


def _tier_choices(caps: ProviderCapabilities) -> list[JsonSchema]:
    """One alternative per tier: its resolutions; the tier named, or omitted for the default one."""
    default_resolution = JobRequest.model_fields["resolution"].default
    alternatives = []
    for tier, resolutions in caps.tiers.items():
        allowed = [resolution for resolution in get_args(Resolution) if resolution in resolutions]
        choice: JsonSchema = {"properties": {"resolution": {"enum": allowed}}}
        if tier == caps.default_tier:
            choice["properties"]["tier"] = {"enum": [tier, None]}
        else:
            choice["properties"]["tier"] = {"enum": [tier]}
            choice["required"] = ["tier"]
        if default_resolution not in resolutions:
            choice.setdefault("required", []).append("resolution")
        alternatives.append(choice)
    return alternatives


def _operation_rules(operation: Operation) -> JsonSchema:
    rule = OPERATION_RULES[operation]
    low, high = rule.reference_videos
    parts: list[JsonSchema] = [
        {"required": ["operation"], "properties": {"operation": {"enum": [operation]}}},
        _present("first_frame_url") if rule.needs_first_frame else _absent("first_frame_url"),
        _present("last_frame_url") if rule.needs_last_frame else _absent("last_frame_url"),
        {"properties": {"reference_video_urls": {"minItems": low, "maxItems": high}}},
    ]
    if low:
        parts.append({"required": ["reference_video_urls"]})
    if not rule.takes_reference_images:
        parts.append(_at_most("reference_image_urls", 0))
    if not rule.takes_reference_audio:
        parts.append(_at_most("reference_audio_urls", 0))
    if rule.needs_some_reference:
        parts.append({"anyOf": [_some("reference_image_urls"), _some("reference_video_urls")]})
    return {"allOf": parts}


def _total_media_rule(caps: ProviderCapabilities, max_files: int, *, audios_from: int) -> JsonSchema:
    """At most ``max_files`` references in all. JSON Schema cannot add up array lengths, so this is the
    union of the largest boxes (at most I images, V videos and A audio clips) within the total: one
    alternative per count of videos and of audio clips, each with the images that leave room for them.
    Frames never come with references here."""
    alternatives: list[JsonSchema] = []
    for videos in range(caps.max_reference_videos + 1):
        for audios in range(audios_from, caps.max_reference_audios + 1):
            images = min(caps.max_reference_images, max_files - videos - audios)
            if images < 0:
                continue
            box = {
                "reference_image_urls": {"maxItems": images},
                "reference_video_urls": {"maxItems": videos},
                "reference_audio_urls": {"maxItems": audios},
            }
            # A box inside a larger one adds nothing: keep the maximal ones only.
            alternatives.append({"properties": box})
    maximal = [
        box
        for box in alternatives
        if not any(other is not box and _inside(box, other) for other in alternatives)
    ]
    return {"anyOf": maximal}


def _inside(box: JsonSchema, other: JsonSchema) -> bool:
    return all(
        box["properties"][name]["maxItems"] <= other["properties"][name]["maxItems"]
        for name in box["properties"]
    )


def _provider_rules(name: ProviderName, caps: ProviderCapabilities) -> JsonSchema:
    parts = _common_rules(name, caps)
    parts += [
        # A last frame comes with a first frame.
        {"anyOf": [_absent("last_frame_url"), _present("first_frame_url")]},
        # Reference audio comes with reference images or videos.
        {
            "anyOf": [
                _at_most("reference_audio_urls", 0),
                _some("reference_image_urls"),
                _some("reference_video_urls"),
            ]
        },
    ]
    if not caps.first_frame:
        parts.append(_absent("first_frame_url"))
    if not caps.last_frame:
        parts.append(_absent("last_frame_url"))
    if not caps.frames_with_references:
        no_references = {"allOf": [_at_most(field_name, 0) for field_name in _REFERENCE_FIELDS]}
        parts.append({"anyOf": [_absent("first_frame_url"), no_references]})
    return {"allOf": parts}


def _common_rules(
    name: ProviderName, caps: ProviderCapabilities, tier_rules: JsonSchema | None = None
) -> list[JsonSchema]:
    """The rules on everything but how frames and references combine."""
    duration = {"minimum": caps.min_duration, "maximum": caps.max_duration}
    ratios = [ratio for ratio in get_args(AspectRatio) if ratio in caps.aspect_ratios]
    parts: list[JsonSchema] = [
        {
            "properties": {
                "provider": {"enum": [name]},
                "duration": duration,
                "aspect_ratio": {"enum": [*ratios, None]},
            }
        },
        _tier_rules(caps) if tier_rules is None else tier_rules,
        _at_most("reference_image_urls", caps.max_reference_images),
        _at_most("reference_video_urls", caps.max_reference_videos),
        _at_most("reference_audio_urls", caps.max_reference_audios),
    ]
    if not caps.audio_switch:
        parts.append({"properties": {"generate_audio": {"enum": [True]}}})
    unsupported = [field_name for field_name in OPTIONAL_FIELDS if field_name not in caps.optional_fields]
    if unsupported:
        parts.append(_absent(*unsupported))
    operations = [operation for operation in get_args(Operation) if operation in caps.operations]
    parts.append({"anyOf": [_absent("operation"), *(_operation_rules(op) for op in operations)]})
    return parts


def request_schema_rules() -> list[JsonSchema]:
    """check_request as JSON Schema: exclusive alternatives, one or more per provider (for JobRequest's
    oneOf), so that a request the published schema allows is one the intake accepts (s3:// objects and
    notify_url's address aside: they depend on the deployment, not on the request's shape)."""
    return [branch for name, caps in CAPABILITIES.items() for branch in _provider_branches(name, caps)]


def _provider_branches(name: ProviderName, caps: ProviderCapabilities) -> list[JsonSchema]:
    """The provider's rules. With a cap on media files in all (fal), as exclusive alternatives that keep
    the cap where it can bite, small enough for schema tools (which multiply alternatives out):
    a first frame and no references; no frames and no reference audio (then the cap cannot be reached);
    and no frames with reference audio, under the cap, one alternative per tier."""
    rules = _provider_rules(name, caps)
    if caps.max_media_files is None:
        return [rules]
    assert not caps.frames_with_references  # noqa: S101 - a table that needs the frames counted too
    no_frames = _absent("first_frame_url", "last_frame_url")
    with_frame = {
        "allOf": [
            rules,
            _present("first_frame_url"),
            *(_at_most(field_name, 0) for field_name in _REFERENCE_FIELDS),
        ]
    }
    without_audio = {"allOf": [*_common_rules(name, caps), no_frames, _at_most("reference_audio_urls", 0)]}
    if caps.max_reference_images + caps.max_reference_videos > caps.max_media_files:
        without_audio["allOf"].append(_total_media_rule(caps, caps.max_media_files, audios_from=0))
    with_audio = [
        {
            "allOf": [
                *_common_rules(name, caps, tier_rules=tier),
                no_frames,
                _some("reference_audio_urls"),
                {"anyOf": [_some("reference_image_urls"), _some("reference_video_urls")]},
                _total_media_rule(caps, caps.max_media_files, audios_from=1),
            ]
        }
        for tier in _tier_choices(caps)
    ]
    return [with_frame, without_audio, *with_audio]


def _listed(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _listed_resolutions(values: Iterable[Resolution]) -> str:
    return ", ".join(resolution for resolution in get_args(Resolution) if resolution in set(values))


def markdown_table() -> str:
    """The capability table as the README shows it (a test keeps the README in step)."""
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
