"""The capability rules as JSON Schema, published on the request model of the OpenAPI document.

``check_request`` in JSON Schema: exclusive alternatives, one or more per provider, so that a request
the published schema allows is one the intake accepts. Only the API's document carries them
(``PublishedJobRequest``); stored jobs and events carry the plain ``JobRequest``.
"""

from __future__ import annotations

from typing import Any, get_args

from pydantic import ConfigDict

from videojobs.catalog.capabilities import CAPABILITIES, OPERATION_RULES, OPTIONAL_FIELDS
from videojobs.models import AUTO, AspectRatio, JobRequest, Operation, ProviderName, Resolution
from videojobs.providers.unit import ProviderCapabilities

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
    """The rules on everything but how frames and references combine. The provider is pinned by the
    caller: its name for a named request, "auto" (and what ``providers`` allows) for one that routes."""
    duration = {"minimum": caps.min_duration, "maximum": caps.max_duration}
    ratios = [ratio for ratio in get_args(AspectRatio) if ratio in caps.aspect_ratios]
    parts: list[JsonSchema] = [
        {
            "properties": {
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
    """check_request as JSON Schema: exclusive alternatives, one or more per provider, and one for
    ``"auto"`` (for JobRequest's oneOf), so that a request the published schema allows is one the
    intake accepts (s3:// objects, notify_url's address and which providers are enabled aside: they
    depend on the deployment, not on the request's shape)."""
    named = [
        {"allOf": [_pinned(name), branch]}
        for name, caps in CAPABILITIES.items()
        for branch in _provider_branches(name, caps)
    ]
    return [*named, _auto_rules()]


def _pinned(provider: str) -> JsonSchema:
    return {"properties": {"provider": {"enum": [provider]}}}


def _auto_rules() -> JsonSchema:
    """``"auto"``: some provider ``providers`` allows (any, when it is absent) serves the request."""
    served = [
        {
            "allOf": [
                {"properties": {"providers": {"anyOf": [{"type": "null"}, {"contains": {"const": name}}]}}},
                branch,
            ]
        }
        for name, caps in CAPABILITIES.items()
        for branch in _provider_branches(name, caps)
    ]
    return {"allOf": [_pinned(AUTO), {"anyOf": served}]}


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


def _with_capability_rules(schema: JsonSchema) -> None:
    schema["oneOf"] = request_schema_rules()
    # The providers a request may list are this deployment's catalog's, as its named branches are.
    for choice in schema["properties"]["providers"]["anyOf"]:
        if choice.get("type") == "array":
            choice["items"] = {"enum": list(CAPABILITIES)}


class PublishedJobRequest(JobRequest):
    """``JobRequest`` as POST /jobs takes it and the OpenAPI document publishes it: the same fields and
    validation, and the capability table as the schema's ``oneOf``."""

    model_config = ConfigDict(json_schema_extra=_with_capability_rules)
