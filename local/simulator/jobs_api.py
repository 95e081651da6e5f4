"""The jobs API dialect for Seedance 2.0, per docs/provider-dialects.md ("The jobs API").

Mounted at ``/jobs_api``; ``Authorization: Bearer <key>`` on every route:

- ``POST /v1/jobs``: create ``{"model": "seedance-2.0/text-to-video", "input": {...}}``; answers
  ``{id: "job_<hex>", object: "job", status: "processing", model, created, request_id}``.
- ``GET /v1/jobs/{id}``: the same object plus ``output: {task_id, status, videos: [{url, content_type}]}``
  and ``error: null | {code, message}``; ``status`` is processing, succeeded or failed (``queued`` only while
  jobs are held in the simulator's queue).
- ``POST /v1/files/upload``: multipart/form-data parts ``kind`` (image|video|audio), ``purpose``
  (reference) and ``file`` (with a file name); answers ``{id: "file_<hex>", object: "file", kind, purpose,
  filename, bytes, url}``; served back without auth at ``/jobs_api/files/{id}/{filename}``.

Errors are ``{"error": {"code", "message"}}``; a 400 names the field (``input.duration``).

Callbacks (when ``input.callback_url`` was given) POST the status object, unsigned, retried on non-2xx.

Values the page leaves open (ours): ``resolution`` defaults to 720p, ``aspect_ratio`` to 16:9 and
``duration`` to 5; a fractional duration is rounded up to whole seconds for the clip; clips carry audio
(the API has no audio switch).
"""

from __future__ import annotations

import json
import math
import uuid

from local.simulator.fields import FieldReader, file_part, form_parts, text_part
from local.simulator.media import ClipSpec, dimensions_for
from local.simulator.protocol import (
    Dialect,
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

MODEL = "seedance-2.0/text-to-video"
CREATE_FIELDS = ("model", "input")
INPUT_FIELDS = (
    "prompt",
    "first_frame_url",
    "last_frame_url",
    "reference_image_urls",
    "reference_video_urls",
    "resolution",
    "duration",
    "aspect_ratio",
    "seed",
    "callback_url",
    "channel",
)
MEDIA_FIELDS = ("first_frame_url", "last_frame_url", "reference_image_urls", "reference_video_urls")
RESOLUTIONS = ("480p", "720p", "1080p")
ASPECT_RATIOS = ("21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
UPLOAD_PARTS = ("kind", "purpose", "file")
UPLOAD_KINDS = ("image", "video", "audio")
UPLOAD_PURPOSES = ("reference",)

_STATUS_PREFIX = "/v1/jobs/"
_STATUS_WORDS = {
    JobStatus.QUEUED: "queued",
    JobStatus.PROCESSING: "processing",
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
}
_ERROR_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}


class JobsApiDialect(Dialect):
    provider = "jobs_api"
    uploads_route = "files"

    def route(self, request: SimRequest) -> SimResponse:
        self.require_bearer(request)
        path = request.path.rstrip("/")
        match (request.method, path):
            case ("POST", "/v1/jobs"):
                return self._create(request)
            case ("POST", "/v1/files/upload"):
                return self._upload(request)
            case ("GET", _) if path.startswith(_STATUS_PREFIX) and path.count("/") == 3:
                return self._status(path.removeprefix(_STATUS_PREFIX))
            case (_, "/v1/jobs" | "/v1/files/upload"):
                raise self.method_not_allowed(request)
        raise self.not_found(request)

    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        code = _ERROR_CODES.get(status, "internal_error" if status >= 500 else "error")
        text = f"{message} ({details})" if details else message
        return SimResponse(status, {"error": {"code": code, "message": text}})

    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None:
            return None
        body = json.dumps(_job_object(job), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "JobsAPI-Callback-Simulator/1"}
        return OutgoingWebhook(url=job.webhook_url, body=body, headers=headers)

    # -- routes ---------------------------------------------------------------------------------------
    def _create(self, request: SimRequest) -> SimResponse:
        job = self.start_job(request, f"job_{uuid.uuid4().hex}", _plan)
        return SimResponse(200, _job_head(job))

    def _status(self, job_id: str) -> SimResponse:
        job = self.host.job(job_id, self.provider)
        if job is None:
            raise Rejection(404, "Job not found", f"No job with id {job_id!r}")
        return SimResponse(200, _job_object(job))

    def _upload(self, request: SimRequest) -> SimResponse:
        parts = form_parts(request, UPLOAD_PARTS)
        kind = text_part(parts, "kind", UPLOAD_KINDS)
        purpose = text_part(parts, "purpose", UPLOAD_PURPOSES)
        part = file_part(parts, "file", require_content_type=False)
        upload = self.host.store_upload(
            provider=self.provider,
            upload_id=f"file_{uuid.uuid4().hex}",
            filename=part.filename or "",
            content_type=part.content_type or "application/octet-stream",
            data=part.data,
        )
        return SimResponse(
            200,
            {
                "id": upload.id,
                "object": "file",
                "kind": kind,
                "purpose": purpose,
                "filename": upload.filename,
                "bytes": upload.size,
                "url": upload.url,
            },
        )


def _plan(body: JSONObject) -> JobPlan:
    """Validate a create body (every problem a 400 naming the field) into a job plan."""
    fields = FieldReader(body)
    fields.refuse_unknown(CREATE_FIELDS)
    model = fields.required_string("model")
    if model != MODEL:
        raise invalid("model", f"must be {MODEL}", f"Got {model[:80]!r}")
    job_input = fields.nested("input")
    if job_input is None:
        raise invalid("input", "is required")
    job_input.refuse_unknown(INPUT_FIELDS)
    job_input.required_string("prompt")
    job_input.optional_string("first_frame_url")
    job_input.optional_string("last_frame_url")
    job_input.string_list("reference_image_urls", max_items=9)
    job_input.string_list("reference_video_urls", max_items=3)
    resolution = job_input.optional_string("resolution", options=RESOLUTIONS, default="720p") or "720p"
    duration = job_input.number("duration", minimum=4, maximum=15, default=5) or 5
    aspect_ratio = job_input.optional_string("aspect_ratio", options=ASPECT_RATIOS, default="16:9") or "16:9"
    job_input.integer("seed")
    job_input.optional_string("channel")
    callback_url = job_input.http_url("callback_url")
    width, height = dimensions_for(resolution, aspect_ratio)
    return JobPlan(
        clip=ClipSpec(width=width, height=height, duration_seconds=math.ceil(duration), with_audio=True),
        webhook_url=callback_url,
        media=job_input.media(*MEDIA_FIELDS),
        meta={"request_id": f"req_{uuid.uuid4().hex}", "task_id": f"task_{uuid.uuid4().hex}"},
    )


def _job_head(job: SimulatedJob) -> JSONObject:
    return {
        "id": job.id,
        "object": "job",
        "status": _STATUS_WORDS[job.status],
        "model": MODEL,
        "created": int(job.created_at),
        "request_id": job.meta.get("request_id"),
    }


def _job_object(job: SimulatedJob) -> JSONObject:
    status = _STATUS_WORDS[job.status]
    videos: list[JSONValue] = (
        [{"url": job.output_url, "content_type": "video/mp4"}] if job.output_url is not None else []
    )
    return {
        **_job_head(job),
        "output": {"task_id": job.meta.get("task_id"), "status": status, "videos": videos},
        "error": (
            {"code": "generation_failed", "message": job.error or "Generation failed"}
            if job.status is JobStatus.FAILED
            else None
        ),
    }
