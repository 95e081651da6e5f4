"""The BytePlus ModelArk dialect for Seedance 2.0, per docs/provider-dialects.md ("BytePlus ModelArk") and
ModelArk's Video Generation API (docs.byteplus.com/en/docs/ModelArk/1520757).

Mounted at ``/byteplus``, under the real API's own prefix ``/api/v3`` (so the pipeline's
``BYTEPLUS_BASE_URL`` is ``http://127.0.0.1:<port>/byteplus/api/v3``, as production's ends in ``/api/v3``);
``Authorization: Bearer <key>`` on every route:

- ``POST /api/v3/contents/generations/tasks``: create ``{model, content[], callback_url, return_last_frame,
  generate_audio, resolution, ratio, duration, seed, watermark, execution_expires_after, service_tier,
  priority, safety_identifier}``; answers ``{"id": "cgt-<yyyymmddhhmmss>-<5 chars>"}``.
- ``GET /api/v3/contents/generations/tasks/{id}``: the task ``{id, model, status, error, content, usage,
  created_at, updated_at, seed, resolution, ratio, duration, framespersecond, generate_audio, service_tier,
  execution_expires_after}``; ``status`` queued | running | succeeded | failed | cancelled; ``content``
  ``{video_url[, last_frame_url]}`` once succeeded; ``error`` ``{code, message}`` once failed, else null.
- ``DELETE /api/v3/contents/generations/tasks/{id}``: a queued task is cancelled (``{}``); a running or
  cancelled one is refused (400); a succeeded or failed one has its record deleted (``{}``; later reads
  answer 404).

Errors are ``{"error": {"code", "message", "type"}}`` (docs.byteplus.com/en/docs/ModelArk/1298460); a 400
names the field in its message (``content[1].role``).

Callbacks (when ``callback_url`` was given) POST the task object, unsigned, on every status change the
page lists: ``queued`` (while jobs are held), ``running``, then ``succeeded`` or ``failed``; retried on
non-2xx.

Values the page leaves open (ours): a refused DELETE is ``400 InvalidParameter``; a deleted task reads as
``404 ResourceNotFound``; ``duration`` -1 and ``ratio`` adaptive render a 5 s 16:9 clip; a failure carries
``InternalServiceError``; a cancelled task gets no callback (the page's callback statuses do not include
it); tasks never expire here; ``usage.completion_tokens`` follows the pricing page's formula for the clip
rendered.
"""

from __future__ import annotations

import json
import secrets
import string
import threading
import time
from collections.abc import Sequence

from local.simulator.fields import FieldReader
from local.simulator.media import ClipSpec, dimensions_for
from local.simulator.protocol import (
    CancelOutcome,
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

API_PREFIX = "/api/v3"
TASKS_PATH = f"{API_PREFIX}/contents/generations/tasks"
STANDARD_MODEL = "dreamina-seedance-2-0-260128"
FAST_MODEL = "dreamina-seedance-2-0-fast-260128"
MINI_MODEL = "dreamina-seedance-2-0-mini-260615"
#: 4K and 1080p on the standard model only; fast and mini stop at 720p (1520757, "resolution").
RESOLUTIONS_BY_MODEL: dict[str, tuple[str, ...]] = {
    STANDARD_MODEL: ("480p", "720p", "1080p", "4k"),
    FAST_MODEL: ("480p", "720p"),
    MINI_MODEL: ("480p", "720p"),
}
CREATE_FIELDS = (
    "model",
    "content",
    "callback_url",
    "return_last_frame",
    "generate_audio",
    "resolution",
    "ratio",
    "duration",
    "seed",
    "watermark",
    "execution_expires_after",
    "service_tier",
    "priority",
    "safety_identifier",
)
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
AUTO_DURATION = -1
FRAMES_PER_SECOND = 24
IMAGE_ROLES = ("first_frame", "last_frame", "reference_image")
MAX_REFERENCE_IMAGES = 9
MAX_REFERENCE_VIDEOS = 3
MAX_REFERENCE_AUDIOS = 3
#: The content item types and the one role each media type takes besides images'.
MEDIA_TYPES = {"image_url": IMAGE_ROLES, "video_url": ("reference_video",), "audio_url": ("reference_audio",)}

_STATUS_WORDS = {
    JobStatus.QUEUED: "queued",
    JobStatus.PROCESSING: "running",
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "cancelled",
}
#: HTTP status -> (error type, error code), after docs.byteplus.com/en/docs/ModelArk/1299023.
_ERRORS = {
    400: ("BadRequest", "InvalidParameter"),
    401: ("Unauthorized", "AuthenticationError"),
    404: ("NotFound", "ResourceNotFound"),
    405: ("MethodNotAllowed", "MethodNotAllowed"),
    413: ("BadRequest", "RequestTooLarge"),
    429: ("TooManyRequests", "RateLimitExceeded"),
}
_ID_ALPHABET = string.ascii_lowercase + string.digits


class BytePlusDialect(Dialect):
    provider = "byteplus"
    cancels_running_jobs = False

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self._deleted: set[str] = set()
        self._deleted_lock = threading.Lock()

    def pipeline_settings(self, base_url: str) -> dict[str, str]:
        # Production's base URL ends in /api/v3 too; the dialect's routes live under it.
        return {"BYTEPLUS_BASE_URL": f"{base_url}{API_PREFIX}"}

    def route(self, request: SimRequest) -> SimResponse:
        self.require_bearer(request)
        path = request.path.rstrip("/")
        match (request.method, path.removeprefix(TASKS_PATH).split("/")):
            case ("POST", [""]) if path == TASKS_PATH:
                return self._create(request)
            case ("GET", ["", task_id]) if path.startswith(f"{TASKS_PATH}/"):
                return SimResponse(200, _task(self._job(task_id)))
            case ("DELETE", ["", task_id]) if path.startswith(f"{TASKS_PATH}/"):
                return self._delete(task_id)
            case (_, [""]) if path == TASKS_PATH:
                raise self.method_not_allowed(request)
        raise self.not_found(request)

    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        fallback = ("InternalServerError", "InternalServiceError") if status == 500 else ("Error", "Error")
        if status > 500:
            fallback = ("ServiceUnavailable", "ServiceUnavailable")
        error_type, code = _ERRORS.get(status, fallback)
        text = f"{message} ({details})" if details else message
        return SimResponse(status, {"error": {"code": code, "message": text, "type": error_type}})

    def webhook_on_change(self, job: SimulatedJob) -> OutgoingWebhook | None:
        return self._callback(job)

    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.status is JobStatus.CANCELLED:
            return None  # the page's callback statuses are queued, running, succeeded, failed, expired
        return self._callback(job)

    # -- routes ---------------------------------------------------------------------------------------
    def _create(self, request: SimRequest) -> SimResponse:
        job = self.start_job(request, _task_id(), _plan)
        return SimResponse(200, {"id": job.id})

    def _delete(self, task_id: str) -> SimResponse:
        job = self._job(task_id)
        if job.status.finished and job.status is not JobStatus.CANCELLED:
            with self._deleted_lock:
                self._deleted.add(task_id)
            return SimResponse(200, {})
        outcome = self.cancel(task_id)
        if outcome is CancelOutcome.CANCELLED:
            return SimResponse(200, {})
        if outcome is CancelOutcome.NOT_FOUND:
            raise _task_not_found(task_id)
        word = "running" if outcome is CancelOutcome.RUNNING else _STATUS_WORDS[job.status]
        raise Rejection(
            400,
            f"The task {task_id} cannot be cancelled or deleted while it is {word}",
            "only queued tasks can be cancelled; succeeded, failed or expired ones are deleted",
        )

    def _job(self, task_id: str) -> SimulatedJob:
        with self._deleted_lock:
            deleted = task_id in self._deleted
        job = None if deleted else self.host.job(task_id, self.provider)
        if job is None:
            raise _task_not_found(task_id)
        return job

    def _callback(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None:
            return None
        body = json.dumps(_task(job), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "ModelArk-Callback-Simulator/1"}
        return OutgoingWebhook(url=job.webhook_url, body=body, headers=headers)


def _task_id() -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    return f"cgt-{stamp}-{''.join(secrets.choice(_ID_ALPHABET) for _ in range(5))}"


def _task_not_found(task_id: str) -> Rejection:
    return Rejection(404, "The specified task is not found", f"No task with id {task_id!r}")


def _plan(body: JSONObject) -> JobPlan:
    """Validate a create body (every problem a 400 naming the field) into a job plan."""
    fields = FieldReader(body)
    fields.refuse_unknown(CREATE_FIELDS)
    model = fields.required_string("model")
    if model not in RESOLUTIONS_BY_MODEL:
        raise invalid("model", f"must be one of {', '.join(RESOLUTIONS_BY_MODEL)}", f"Got {model[:80]!r}")
    media, wants_first_frame = _content(body.get("content"))
    resolution = fields.optional_string("resolution", options=RESOLUTIONS_BY_MODEL[model], default="720p")
    ratio = fields.optional_string("ratio", options=RATIOS, default="adaptive") or "adaptive"
    duration = fields.integer("duration", minimum=AUTO_DURATION, maximum=15, default=5)
    if duration is not None and 0 <= duration < 4:
        raise invalid("duration", "must be between 4 and 15, or -1", f"Got {duration}")
    fields.integer("seed", minimum=-1, maximum=2**32 - 1)
    fields.boolean("watermark")
    generate_audio = fields.boolean("generate_audio", default=True)
    return_last_frame = fields.boolean("return_last_frame", default=False)
    expires_after = fields.integer("execution_expires_after", minimum=3600, maximum=259_200, default=172_800)
    fields.optional_string("service_tier", options=("default",))  # 2.x cannot use "flex"
    fields.integer("priority", minimum=0, maximum=9)
    safety_identifier = fields.optional_string("safety_identifier")
    if safety_identifier is not None and len(safety_identifier) > 64:
        raise invalid("safety_identifier", "must be at most 64 characters")
    callback_url = fields.http_url("callback_url")
    seconds = 5 if duration in (None, AUTO_DURATION) else duration
    width, height = dimensions_for(resolution or "720p", "auto" if ratio == "adaptive" else ratio)
    return JobPlan(
        clip=ClipSpec(
            width=width, height=height, duration_seconds=seconds, with_audio=generate_audio is True
        ),
        webhook_url=callback_url,
        media=media,
        last_frame=return_last_frame is True,
        meta={
            "model": model,
            "resolution": resolution,
            "ratio": ratio,
            "duration": seconds,
            "seed": _seed(body.get("seed")),
            "generate_audio": generate_audio is True,
            "execution_expires_after": expires_after,
            "first_frame": wants_first_frame,
        },
    )


def _seed(value: JSONValue) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return secrets.randbelow(2**31)


def _content(value: JSONValue) -> tuple[Sequence[tuple[str, str]], bool]:
    """The content[] items' media as (field path, URL), and whether a first frame was given; 400 naming the
    item for anything the page does not allow."""
    if not isinstance(value, list) or not value:
        raise invalid("content", "must be a non-empty array of content items")
    media: list[tuple[str, str]] = []
    roles: list[str] = []
    texts = 0
    for index, item in enumerate(value):
        path = f"content[{index}]"
        if not isinstance(item, dict):
            raise invalid(path, "must be an object")
        reader = FieldReader(item, prefix=f"{path}.")
        kind = reader.required_string("type")
        if kind == "text":
            reader.refuse_unknown(("type", "text"))
            reader.required_string("text")
            texts += 1
            continue
        if kind not in MEDIA_TYPES:
            raise invalid(f"{path}.type", f"must be one of text, {', '.join(MEDIA_TYPES)}", f"Got {kind!r}")
        reader.refuse_unknown(("type", kind, "role"))
        holder = reader.nested(kind)
        if holder is None:
            raise invalid(f"{path}.{kind}", "is required")
        holder.refuse_unknown(("url",))
        url = holder.required_string("url")
        role = reader.optional_string("role", options=MEDIA_TYPES[kind])
        if role is None:
            # "first_frame (optional for a single image)": only a lone image may leave it out.
            if kind != "image_url":
                raise invalid(f"{path}.role", "is required")
            role = "first_frame"
        media.append((f"{path}.{kind}.url", url))
        roles.append(role)
    if texts > 1:
        raise invalid("content", "takes at most one text item")
    _check_modes(roles)
    return media, "first_frame" in roles


def _check_modes(roles: list[str]) -> None:
    """First frame, first + last frame and references are exclusive; audio needs an image or a video."""
    counts = {role: roles.count(role) for role in set(roles)}
    frames = counts.get("first_frame", 0) + counts.get("last_frame", 0)
    references = len(roles) - frames
    if counts.get("first_frame", 0) > 1 or counts.get("last_frame", 0) > 1:
        raise invalid("content", "takes at most one first_frame and one last_frame image")
    if counts.get("last_frame") and not counts.get("first_frame"):
        raise invalid("content", "a last_frame image needs a first_frame image")
    if frames and references:
        raise invalid("content", "takes frames (first_frame, last_frame) or references, not both")
    for role, limit in (
        ("reference_image", MAX_REFERENCE_IMAGES),
        ("reference_video", MAX_REFERENCE_VIDEOS),
        ("reference_audio", MAX_REFERENCE_AUDIOS),
    ):
        if counts.get(role, 0) > limit:
            raise invalid("content", f"takes at most {limit} {role} items", f"Got {counts[role]}")
    if counts.get("reference_audio") and not (counts.get("reference_image") or counts.get("reference_video")):
        raise invalid("content", "reference_audio needs a reference_image or reference_video too")


def _task(job: SimulatedJob) -> JSONObject:
    meta = job.meta
    updated = job.completed_at or job.started_at or job.created_at
    task: JSONObject = {
        "id": job.id,
        "model": meta.get("model"),
        "status": _STATUS_WORDS[job.status],
        "error": None,
        "created_at": int(job.created_at),
        "updated_at": int(updated),
        "seed": meta.get("seed"),
        "resolution": meta.get("resolution"),
        "ratio": meta.get("ratio"),
        "duration": meta.get("duration"),
        "framespersecond": FRAMES_PER_SECOND,
        "generate_audio": meta.get("generate_audio"),
        "service_tier": "default",
        "execution_expires_after": meta.get("execution_expires_after"),
    }
    if job.status is JobStatus.SUCCEEDED:
        content: JSONObject = {"video_url": job.output_url}
        if job.last_frame_requested:
            content["last_frame_url"] = job.last_frame_url
        tokens = job.clip.width * job.clip.height * FRAMES_PER_SECOND * int(job.clip.duration_seconds) // 1024
        task["content"] = content
        task["usage"] = {"completion_tokens": tokens, "total_tokens": tokens}
    elif job.status is JobStatus.FAILED:
        task["error"] = {"code": "InternalServiceError", "message": job.error or "The task failed"}
    return task
