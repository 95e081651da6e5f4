"""The OpenAI-style gateway dialect for Seedance 2.0, per docs/provider-dialects.md ("The gateway").

Mounted at ``/gateway``; ``Authorization: Bearer <key>`` on every route:

- ``POST /v1/video/generations``: create; answers the task ``{id, task_id: "task_<hex>", object:
  "video.generation.job", model, status: "queued", progress: 0, created_at}``.
- ``POST /v1/videos/generations``: the deprecated create route, always 404.
- ``GET /v1/videos/{task_id}``: status ``{id, task_id, object, model, status, progress}``, plus
  ``video_url`` once completed, ``last_frame_url`` once completed when ``return_last_frame`` was asked,
  ``error: {message, code}`` when failed.

Errors are ``{"error": {"message", "type": "invalid_request_error", "code"}}``; a 400 names the field.
There is no webhook of any kind: ``webhook_url`` / ``callback_url`` are refused like any unknown field.

Progression (ours): a task answers ``queued`` (progress 0) to its first status read, whatever the job's
real state; from the second read on it answers ``processing`` while the job runs, with a progress that
rises on every read (``100 * elapsed / processing_seconds``, but at least one more than the previous
answer, at most 99), then ``completed`` (progress 100) or ``failed``. A job stalled by the
``stall_predictions`` fault stays ``processing`` at 99.

Values the page leaves open (ours): ``duration`` 5-15 as an integer or a string of digits (default 5);
``aspect_ratio`` defaults to 16:9; ``extra_body.generate_audio`` defaults to true; the boolean-or-string
switches (``watermark``, ``camera_fixed``, ``return_last_frame``) take true/false or "true"/"false" (any
case). ``extra_body.operation`` must match the inputs:
``first_last_frame``    ``image`` and ``last_image``, nothing else;
``reference_to_video``  ``images`` or ``videos`` (``audios`` may go with them), no ``image``;
``edit_video``          exactly one of ``videos``, optionally ``images``, nothing else;
``extend_video``        exactly one of ``videos``, nothing else.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass

from local.simulator.fields import FieldReader
from local.simulator.media import ClipSpec, dimensions_for
from local.simulator.protocol import (
    Dialect,
    Host,
    JobPlan,
    JobStatus,
    JSONObject,
    JSONValue,
    OutgoingWebhook,
    Rejection,
    SimRequest,
    SimResponse,
    SimulatedJob,
    invalid,
)

RESOLUTION_BY_MODEL = {
    "seedance2.0-480p": "480p",
    "seedance2.0-720p": "720p",
    "seedance2.0-1080p": "1080p",
    "seedance2.0-4k": "4k",
    "seedance2.0-fast-480p": "480p",
    "seedance2.0-fast-720p": "720p",
    "seedance2.0-mini-480p": "480p",
    "seedance2.0-mini-720p": "720p",
}
ASPECT_RATIOS = ("9:16", "1:1", "16:9")
CREATE_FIELDS = (
    "model",
    "prompt",
    "duration",
    "aspect_ratio",
    "image",
    "last_image",
    "images",
    "videos",
    "audios",
    "extra_body",
)
EXTRA_BODY_FIELDS = ("generate_audio", "seed", "watermark", "camera_fixed", "return_last_frame", "operation")
OPERATIONS = ("reference_to_video", "edit_video", "extend_video", "first_last_frame")
MAX_ITEMS = {"images": 9, "videos": 3, "audios": 3}
MIN_DURATION, MAX_DURATION, DEFAULT_DURATION = 5, 15, 5
OBJECT = "video.generation.job"
ERROR_TYPE = "invalid_request_error"

_CREATE_PATH = "/v1/video/generations"
_DEPRECATED_CREATE_PATH = "/v1/videos/generations"
_STATUS_PREFIX = "/v1/videos/"
_DIGITS = re.compile(r"[0-9]+")
_ERROR_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limit_exceeded",
}


@dataclass
class _Observed:
    """What the client has been shown of one task so far."""

    reads: int = 0
    progress: int = 0


class GatewayDialect(Dialect):
    provider = "gateway"

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self._observed: dict[str, _Observed] = {}
        self._observed_lock = threading.Lock()

    def route(self, request: SimRequest) -> SimResponse:
        self.require_bearer(request)
        path = request.path.rstrip("/")
        match (request.method, path):
            case ("POST", "/v1/video/generations"):
                return self._create(request)
            case (_, "/v1/videos/generations"):
                raise Rejection(404, f"{_DEPRECATED_CREATE_PATH} is deprecated; use POST {_CREATE_PATH}")
            case ("GET", _) if path.startswith(_STATUS_PREFIX) and path.count("/") == 3:
                return self._status(path.removeprefix(_STATUS_PREFIX))
            case (_, "/v1/video/generations"):
                raise self.method_not_allowed(request)
        raise self.not_found(request)

    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        code = _ERROR_CODES.get(status, "server_error" if status >= 500 else "error")
        text = f"{message} ({details})" if details else message
        return SimResponse(status, {"error": {"message": text, "type": ERROR_TYPE, "code": code}})

    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        return None  # the gateway never calls back

    # -- routes ---------------------------------------------------------------------------------------
    def _create(self, request: SimRequest) -> SimResponse:
        job = self.start_job(request, f"task_{uuid.uuid4().hex}", _plan)
        with self._observed_lock:
            self._observed[job.id] = _Observed()
        return SimResponse(
            200, {**_task_head(job), "status": "queued", "progress": 0, "created_at": int(job.created_at)}
        )

    def _status(self, task_id: str) -> SimResponse:
        job = self.host.job(task_id, self.provider)
        if job is None:
            raise Rejection(404, "Task not found", f"No task with id {task_id!r}")
        with self._observed_lock:
            observed = self._observed.setdefault(task_id, _Observed())
            status, progress = _presented(job, observed)
            observed.reads += 1
            observed.progress = progress
        task: JSONObject = {**_task_head(job), "status": status, "progress": progress}
        if status == "completed":
            task["video_url"] = job.output_url
            if job.last_frame_requested:
                task["last_frame_url"] = job.last_frame_url
        elif status == "failed":
            task["error"] = {"message": job.error or "Generation failed", "code": "generation_failed"}
        return SimResponse(200, task)


def _plan(body: JSONObject) -> JobPlan:
    """Validate a create body (every problem a 400 naming the field) into a job plan."""
    fields = FieldReader(body)
    fields.refuse_unknown(CREATE_FIELDS)
    model = fields.required_string("model")
    if model not in RESOLUTION_BY_MODEL:
        raise invalid("model", f"must be one of {', '.join(RESOLUTION_BY_MODEL)}", f"Got {model[:80]!r}")
    fields.required_string("prompt")
    duration = _duration(body.get("duration"))
    aspect_ratio = fields.optional_string("aspect_ratio", options=ASPECT_RATIOS, default="16:9") or "16:9"
    image = fields.optional_string("image")
    last_image = fields.optional_string("last_image")
    if last_image is not None and image is None:
        raise invalid("last_image", "needs 'image' (the first frame) as well")
    counts = {name: len(fields.string_list(name, max_items=limit)) for name, limit in MAX_ITEMS.items()}
    extra = fields.nested("extra_body") or FieldReader({}, prefix="extra_body.")
    extra.refuse_unknown(EXTRA_BODY_FIELDS)
    generate_audio = extra.boolean("generate_audio", default=True)
    extra.integer("seed")
    extra_flags = {name: _flag(extra, name) for name in ("watermark", "camera_fixed", "return_last_frame")}
    operation = extra.optional_string("operation", options=OPERATIONS)
    if operation is not None:
        given = {name for name, count in counts.items() if count} | {
            name for name, value in (("image", image), ("last_image", last_image)) if value is not None
        }
        _check_operation(operation, given, counts["videos"])
    width, height = dimensions_for(RESOLUTION_BY_MODEL[model], aspect_ratio)
    return JobPlan(
        clip=ClipSpec(
            width=width, height=height, duration_seconds=duration, with_audio=generate_audio is True
        ),
        media=fields.media("image", "last_image", *MAX_ITEMS),
        last_frame=extra_flags["return_last_frame"] is True,
        meta={"model": model},
    )


def _task_head(job: SimulatedJob) -> JSONObject:
    return {"id": job.id, "task_id": job.id, "object": OBJECT, "model": job.meta.get("model")}


def _presented(job: SimulatedJob, observed: _Observed) -> tuple[str, int]:
    """The (status, progress) to show now: queued on the first read, then the job's state."""
    if observed.reads == 0 or job.status is JobStatus.QUEUED:
        return "queued", 0
    if job.status is JobStatus.SUCCEEDED:
        return "completed", 100
    if job.status is JobStatus.FAILED:
        return "failed", observed.progress
    elapsed = time.time() - job.created_at
    by_time = int(100 * elapsed / job.processing_seconds) if job.processing_seconds > 0 else 0
    return "processing", min(99, max(observed.progress + 1, by_time))


def _duration(value: JSONValue) -> int:
    if value is None:
        return DEFAULT_DURATION
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        seconds = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        raise invalid(
            "duration", "must be an integer number of seconds (or a string of digits)", f"Got {value!r}"
        )
    if not MIN_DURATION <= seconds <= MAX_DURATION:
        raise invalid("duration", f"must be between {MIN_DURATION} and {MAX_DURATION}", f"Got {value!r}")
    return seconds


def _flag(extra: FieldReader, name: str) -> bool | None:
    """A boolean-or-string switch: true/false, or "true"/"false" in any case."""
    value = extra.values.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise invalid(extra.path(name), 'must be a boolean or "true"/"false"', f"Got {value!r}")


_OPERATION_NEEDS = {
    "first_last_frame": "'image' and 'last_image' and nothing else",
    "reference_to_video": "'images' or 'videos' (optionally 'audios') and no 'image'",
    "edit_video": "exactly one video in 'videos' (optionally 'images') and nothing else",
    "extend_video": "exactly one video in 'videos' and nothing else",
}


def _check_operation(operation: str, given: set[str], video_count: int) -> None:
    """`given`: the media inputs present (non-empty): image, last_image, images, videos, audios."""
    match operation:
        case "first_last_frame":
            consistent = given == {"image", "last_image"}
        case "reference_to_video":
            consistent = bool(given & {"images", "videos"}) and given <= {"images", "videos", "audios"}
        case "edit_video":
            consistent = video_count == 1 and given <= {"videos", "images"}
        case _:
            consistent = video_count == 1 and given == {"videos"}
    if not consistent:
        shown = ", ".join(sorted(given)) or "no media"
        raise invalid(
            "extra_body.operation", f"'{operation}' needs {_OPERATION_NEEDS[operation]}", f"Got {shown}"
        )
