"""The two event doors: objects dropped into the inputs bucket under drops/, and "Video Job Requested"
events. Both end in `accept_job`; what fails validation is announced as "Video Job Rejected", since
there is nobody to answer a 422 to. Nothing here writes under drops/, so nothing can trigger itself.

Drops:
- ``drops/<name>.json``: one job request, the body of POST /jobs. A media field may name an object
  beside the drop (``"first_frame_url": "cat.png"`` is ``s3://<bucket>/drops/cat.png``).
- ``drops/<name>.jsonl``: one request per line; each line stands or falls on its own.
- ``drops/<name>.png|.jpg|.jpeg|.webp``: image-to-video from the image, the other fields from its
  user metadata. Without a prompt (in metadata or DROP_DEFAULT_PROMPT) it is taken to be media for a
  .json or .jsonl drop and starts nothing.
"""

from __future__ import annotations

import posixpath
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from videojobs import json_limits
from videojobs.dependencies import Dependencies
from videojobs.errors import RequestRejected
from videojobs.logic.intake import accept_job, reject
from videojobs.logic.media import LISTED_MEDIA_FIELDS, SINGLE_MEDIA_FIELDS
from videojobs.models import (
    JOB_REQUESTED,
    EventOrigin,
    JobRequest,
    S3Location,
    S3Origin,
    ValidationDetail,
    media_extensions,
)
from videojobs.observability import logger
from videojobs.validation import detail_from_rejection, detail_from_validation_error

DROPS_PREFIX = "drops/"
#: An image drop's endings: the image types of the input media list (INPUT_MEDIA_TYPES).
IMAGE_SUFFIXES = media_extensions("image")
#: A manifest longer than this is refused whole: one function run must get through it.
MAX_MANIFEST_LINES = 1000
#: x-amz-meta-<name> on an image drop -> the request field it fills.
METADATA_FIELDS = {
    "prompt": "prompt",
    "provider": "provider",
    "duration": "duration",
    "resolution": "resolution",
    "aspect-ratio": "aspect_ratio",
    "client-reference": "client_reference",
    "notify-url": "notify_url",
    "deadline-seconds": "deadline_seconds",
}
#: The metadata fields the request model takes as whole numbers.
_NUMBER_FIELDS = ("duration", "deadline_seconds")


class IntakeEvent(BaseModel):
    """An EventBridge event as a rule delivers it to the intake queue."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: Any


class _Bucket(BaseModel):
    name: str


class _Object(BaseModel):
    key: str
    # S3 sends "etag"; moto, like S3's own notifications to Lambda, "eTag".
    etag: str = Field(default="", validation_alias=AliasChoices("etag", "eTag"))


class ObjectCreatedDetail(BaseModel):
    """The detail of S3's "Object Created" event."""

    model_config = ConfigDict(extra="ignore")

    bucket: _Bucket
    object: _Object


class DoorOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    #: An image without a prompt: media for another drop.
    MEDIA = "media"
    #: Not a drop we read (another suffix, or replaced or deleted since the notification).
    IGNORED = "ignored"


def take_intake_message(body: str, deps: Dependencies) -> list[DoorOutcome]:
    """An intake queue message: the EventBridge event a rule delivered. A job request in it nested too
    deep to parse is rejected from its envelope alone, so the caller learns why."""
    try:
        event = IntakeEvent.model_validate(json_limits.loads(body, max_depth=json_limits.MAX_JSON_DEPTH + 1))
    except json_limits.JsonTooDeep:
        # The detail is one level down the envelope: the envelope without it still names the event.
        envelope = IntakeEvent.model_validate_json(json_limits.without_deep_values(body, max_depth=1))
        if envelope.detail_type != JOB_REQUESTED:
            logger.warning(
                "event nested too deep ignored", source=envelope.source, detail_type=envelope.detail_type
            )
            return [DoorOutcome.IGNORED]
        origin = EventOrigin(event_id=envelope.id, source=envelope.source)
        reject(origin, None, [_too_deep(json_limits.JsonTooDeep(json_limits.MAX_JSON_DEPTH))], deps)
        return [DoorOutcome.REJECTED]
    return take_intake_event(event, deps)


def take_intake_event(event: IntakeEvent, deps: Dependencies) -> list[DoorOutcome]:
    if event.source == "aws.s3" and event.detail_type == "Object Created":
        dropped = ObjectCreatedDetail.model_validate(event.detail)
        return take_drop(dropped.bucket.name, dropped.object.key, dropped.object.etag, deps)
    if event.detail_type == JOB_REQUESTED:
        return [take_requested_event(event.id, event.source, event.detail, deps)]
    logger.warning("event not for the intake ignored", source=event.source, detail_type=event.detail_type)
    return [DoorOutcome.IGNORED]


def take_requested_event(event_id: str, source: str, detail: Any, deps: Dependencies) -> DoorOutcome:
    """A "Video Job Requested" event: its detail is a job request."""
    return _take(detail, EventOrigin(event_id=event_id, source=source), deps, drop_folder=None)


def take_drop(bucket: str, key: str, etag: str, deps: Dependencies) -> list[DoorOutcome]:
    """An object created under drops/; one outcome per request it holds."""
    name = key.lower()
    location = S3Location(bucket, key)
    folder = posixpath.dirname(key)
    origin = S3Origin(bucket=bucket, key=key, etag=etag)
    if not key.startswith(DROPS_PREFIX):
        return [DoorOutcome.IGNORED]
    if name.endswith((".json", ".jsonl")):
        try:
            content = deps.inputs.read(
                location, etag=etag or None, max_bytes=deps.intake_policy.max_drop_bytes
            )
        except RequestRejected as too_big:
            reject(origin, None, [ValidationDetail(loc=["file"], msg=too_big.reason, type="too_large")], deps)
            return [DoorOutcome.REJECTED]
        if content is None:
            logger.info("drop replaced or deleted since; its own notification covers it", key=key)
            return [DoorOutcome.IGNORED]
        if name.endswith(".json"):
            return [_take_text(content, origin, deps, folder)]
        return _take_manifest(content, origin, deps, folder)
    if name.endswith(IMAGE_SUFFIXES):
        return [_take_image(location, origin, deps)]
    logger.info("not a drop we read", key=key)
    return [DoorOutcome.IGNORED]


def _take_manifest(content: bytes, origin: S3Origin, deps: Dependencies, folder: str) -> list[DoorOutcome]:
    lines = content.splitlines()
    if len(lines) > MAX_MANIFEST_LINES:
        detail = ValidationDetail(
            loc=["file"], msg=f"has {len(lines)} lines; at most {MAX_MANIFEST_LINES}", type="too_long"
        )
        reject(origin, None, [detail], deps)
        return [DoorOutcome.REJECTED]
    return [
        _take_text(line, origin.model_copy(update={"line": number}), deps, folder)
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]


def _take_text(text: bytes, origin: S3Origin, deps: Dependencies, folder: str) -> DoorOutcome:
    try:
        data = json_limits.loads(text)
    except json_limits.JsonTooDeep as too_deep:
        reject(origin, None, [_too_deep(too_deep)], deps)
        return DoorOutcome.REJECTED
    except ValueError as error:  # not JSON, or not UTF-8
        reason = getattr(error, "msg", None) or "not UTF-8"
        detail = ValidationDetail(loc=["body"], msg=f"JSON decode error: {reason}", type="json_invalid")
        reject(origin, None, [detail], deps)
        return DoorOutcome.REJECTED
    return _take(data, origin, deps, drop_folder=folder)


def _too_deep(error: json_limits.JsonTooDeep) -> ValidationDetail:
    return ValidationDetail(loc=["body"], msg=str(error), type="json_too_deep")


def _take_image(location: S3Location, origin: S3Origin, deps: Dependencies) -> DoorOutcome:
    info = deps.inputs.describe(location, etag=origin.etag or None)
    if info is None:
        return DoorOutcome.IGNORED
    policy = deps.intake_policy
    fields: dict[str, Any] = {
        field: info.metadata[name] for name, field in METADATA_FIELDS.items() if info.metadata.get(name)
    }
    for number in _NUMBER_FIELDS:
        if number in fields:
            # User metadata is text; the request model takes no strings for numbers, so the door converts.
            fields[number] = _whole_number(fields[number])
    fields.setdefault("prompt", policy.drop_default_prompt)
    if not fields["prompt"]:
        logger.info("image dropped without a prompt: taken as media for another drop", key=location.key)
        return DoorOutcome.MEDIA
    fields.setdefault("provider", policy.drop_default_provider)
    if fields["provider"] is None:
        detail = ValidationDetail(
            loc=["body", "provider"],
            msg="set x-amz-meta-provider on the image, or DROP_DEFAULT_PROVIDER",
            type="missing",
        )
        reject(origin, fields.get("client_reference"), [detail], deps)
        return DoorOutcome.REJECTED
    fields["first_frame_url"] = f"s3://{location.bucket}/{location.key}"
    return _take(fields, origin, deps, drop_folder=None)


def _whole_number(text: str) -> int | str:
    """``"5"`` as 5; anything else unchanged, for validation to refuse by name."""
    stripped = text.strip()
    return int(stripped) if stripped.isascii() and stripped.isdigit() else text


def _take(
    data: Any, origin: S3Origin | EventOrigin, deps: Dependencies, *, drop_folder: str | None
) -> DoorOutcome:
    reference = data.get("client_reference") if isinstance(data, dict) else None
    client_reference = reference if isinstance(reference, str) else None
    try:
        if isinstance(data, dict) and drop_folder is not None and isinstance(origin, S3Origin):
            data = _beside_the_drop(data, origin.bucket, drop_folder)
        request = JobRequest.model_validate(data)
        intake = accept_job(request, origin, deps)
    except ValidationError as invalid:
        reject(origin, client_reference, detail_from_validation_error(invalid), deps)
        return DoorOutcome.REJECTED
    except RequestRejected as rejected:
        reject(origin, client_reference, detail_from_rejection(rejected), deps)
        return DoorOutcome.REJECTED
    return DoorOutcome.ACCEPTED if intake.created else DoorOutcome.DUPLICATE


def _beside_the_drop(data: dict[str, Any], bucket: str, folder: str) -> dict[str, Any]:
    """Media fields given as bare names become s3:// URLs of the objects beside the drop."""

    def resolved(field: str, value: Any) -> Any:
        if not isinstance(value, str) or "://" in value:
            return value
        if not value or value.startswith("/") or ".." in value.split("/"):
            raise RequestRejected(field, "must be a URL or the name of an object beside the drop")
        return f"s3://{bucket}/{posixpath.join(folder, value)}"

    changed = dict(data)
    for field in SINGLE_MEDIA_FIELDS:
        if field in changed:
            changed[field] = resolved(field, changed[field])
    for field in LISTED_MEDIA_FIELDS:
        if isinstance(changed.get(field), list):
            changed[field] = [resolved(field, item) for item in changed[field]]
    return changed
