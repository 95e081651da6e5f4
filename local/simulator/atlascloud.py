"""The Atlas Cloud dialect for Seedance 2.0, per docs/provider-dialects.md ("Atlas Cloud").

Mounted at ``/atlascloud``; ``Authorization: Bearer <key>`` on every route but the JWKS:

- ``POST /api/v1/model/generateVideo``: create; every parameter flat at the top level (``input`` is
  refused); answers ``{"code": 200, "message": "success", "data": {id, status: "processing", model,
  outputs: [], created_at}}``.
- ``GET /api/v1/model/prediction/{id}``: status; ``data.status`` is processing, completed or failed.
- ``POST /api/v1/model/uploadMedia``: multipart/form-data with one part ``file`` (file name and
  Content-Type required), at most 30 MiB (413 above); served back without auth at
  ``/atlascloud/uploads/{upload_id}/{file_name}``.
- ``GET /api/v1/webhooks/jwks.json`` (Atlas's own address) and ``GET /.well-known/jwks.json`` (the
  address our local stack configures): the Ed25519 webhook keys (no auth), newest first.

Errors are ``{"code": <http status>, "message": "..."}``; a 400 names the field.

The model follows the inputs: ``image`` only with ``.../image-to-video`` (where it is required, and
``last_image`` may go with it); ``reference_images`` (at most 9), ``reference_videos`` (3) and
``reference_audios`` (3) only with ``.../reference-to-video``, which needs at least one image or video.
``width``/``height`` (even, 64-4096, given together) set the clip size; ``fps`` (1-60) is accepted and
ignored: clips are always 24 fps.

Webhooks (when ``webhook_url`` was given) are one POST when the prediction is terminal, carrying the
envelope Atlas documents (https://www.atlascloud.ai/docs/webhooks)::

    {"session_id": <prediction id>, "event_type": "video.task.terminal", "status": "OK" | "ERROR",
     "payload": <the prediction object of the status answer's "data">, "error": null | "<message>"}

signed once per prediction (retries and duplicates resend identical bytes and headers) with the current
key of the simulator's Ed25519 key ring. Headers: ``X-AtlasCloud-Webhook-Id`` (a new id for each
prediction's webhook, ours: ``whk_<hex>``), ``X-AtlasCloud-Webhook-Event: video.task.terminal``,
``X-AtlasCloud-Webhook-Timestamp``, ``X-AtlasCloud-Webhook-Key-Id`` and
``X-AtlasCloud-Webhook-Signature-Ed25519`` (base64url, no padding, over ``"{timestamp}.{raw body}"``).
``POST /_sim/keys/rotate`` switches to a new key; the JWKS then lists old and new.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import cast

from local.simulator.fields import FieldReader, file_part, form_parts, iso8601
from local.simulator.media import ClipSpec, dimensions_for
from local.simulator.protocol import (
    Dialect,
    JobPlan,
    JobStatus,
    JSONObject,
    OutgoingWebhook,
    Rejection,
    SimRequest,
    SimResponse,
    SimulatedJob,
    invalid,
)
from local.simulator.signing import Ed25519KeyRing, b64url

TEXT_TO_VIDEO = "bytedance/seedance-2.0/text-to-video"
IMAGE_TO_VIDEO = "bytedance/seedance-2.0/image-to-video"
REFERENCE_TO_VIDEO = "bytedance/seedance-2.0/reference-to-video"
MODELS = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, REFERENCE_TO_VIDEO)
RESOLUTIONS = ("480p", "720p", "1080p")
ASPECT_RATIOS = ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
CREATE_FIELDS = (
    "model",
    "prompt",
    "image",
    "last_image",
    "reference_images",
    "reference_videos",
    "reference_audios",
    "resolution",
    "duration",
    "aspect_ratio",
    "generate_audio",
    "seed",
    "webhook_url",
    "width",
    "height",
    "fps",
)
MEDIA_FIELDS = ("image", "last_image", "reference_images", "reference_videos", "reference_audios")
MAX_REFERENCES = {"reference_images": 9, "reference_videos": 3, "reference_audios": 3}
MAX_UPLOAD_BYTES = 30 * 1024 * 1024
MIN_SIDE, MAX_SIDE = 64, 4096
JWKS_PATH = "/.well-known/jwks.json"
ATLAS_JWKS_PATH = "/api/v1/webhooks/jwks.json"
JWKS_PATHS = (ATLAS_JWKS_PATH, JWKS_PATH)
WEBHOOK_ID_HEADER = "X-AtlasCloud-Webhook-Id"
EVENT_HEADER = "X-AtlasCloud-Webhook-Event"
TIMESTAMP_HEADER = "X-AtlasCloud-Webhook-Timestamp"
KEY_ID_HEADER = "X-AtlasCloud-Webhook-Key-Id"
SIGNATURE_HEADER = "X-AtlasCloud-Webhook-Signature-Ed25519"
VIDEO_EVENT = "video.task.terminal"

_STATUS_PREFIX = "/api/v1/model/prediction/"
_STATUS_WORDS = {
    JobStatus.QUEUED: "starting",
    JobStatus.PROCESSING: "processing",
    JobStatus.SUCCEEDED: "completed",
    JobStatus.FAILED: "failed",
}


def signature_headers(keys: Ed25519KeyRing, timestamp: str, body: bytes) -> dict[str, str]:
    """The headers that sign a webhook `body` sent at `timestamp` with the ring's current key."""
    kid, signature = keys.sign(timestamp.encode() + b"." + body)
    return {TIMESTAMP_HEADER: timestamp, KEY_ID_HEADER: kid, SIGNATURE_HEADER: b64url(signature)}


class AtlasCloudDialect(Dialect):
    provider = "atlascloud"
    uploads_route = "uploads"

    def route(self, request: SimRequest) -> SimResponse:
        path = request.path.rstrip("/")
        if path in JWKS_PATHS:
            if request.method != "GET":
                raise self.method_not_allowed(request)
            return SimResponse(200, cast(JSONObject, self.host.signing_keys.jwks()))
        self.require_bearer(request)
        match (request.method, path):
            case ("POST", "/api/v1/model/generateVideo"):
                return self._create(request)
            case ("POST", "/api/v1/model/uploadMedia"):
                return self._upload(request)
            case ("GET", _) if path.startswith(_STATUS_PREFIX):
                return self._status(path.removeprefix(_STATUS_PREFIX))
            case (_, "/api/v1/model/generateVideo" | "/api/v1/model/uploadMedia"):
                raise self.method_not_allowed(request)
        raise self.not_found(request)

    def pipeline_settings(self, base_url: str) -> dict[str, str]:
        return {"ATLASCLOUD_JWKS_URL": f"{base_url}{ATLAS_JWKS_PATH}"}

    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        return SimResponse(
            status, {"code": status, "message": f"{message} ({details})" if details else message}
        )

    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None:
            return None
        prediction = _prediction(job)
        failed = job.status is JobStatus.FAILED
        envelope: JSONObject = {
            "session_id": job.id,
            "event_type": VIDEO_EVENT,
            "status": "ERROR" if failed else "OK",
            "payload": prediction,
            "error": prediction["error"] if failed else None,
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "AtlasCloud-Webhook-Simulator/1",
            WEBHOOK_ID_HEADER: f"whk_{uuid.uuid4().hex}",
            EVENT_HEADER: VIDEO_EVENT,
            **signature_headers(self.host.signing_keys, str(int(time.time())), body),
        }
        return OutgoingWebhook(url=job.webhook_url, body=body, headers=headers)

    # -- routes ---------------------------------------------------------------------------------------
    def _create(self, request: SimRequest) -> SimResponse:
        job = self.start_job(request, f"pred_{uuid.uuid4().hex}", _plan)
        data: JSONObject = {
            "id": job.id,
            "status": "processing",
            "model": job.meta["model"],
            "outputs": [],
            "created_at": iso8601(job.created_at),
        }
        return _success(data)

    def _status(self, prediction_id: str) -> SimResponse:
        job = self.host.job(prediction_id, self.provider)
        if job is None:
            raise Rejection(404, "Prediction not found", f"No prediction with id {prediction_id!r}")
        return _success(_prediction(job))

    def _upload(self, request: SimRequest) -> SimResponse:
        part = file_part(form_parts(request, ("file",)), "file", require_content_type=True)
        if len(part.data) > MAX_UPLOAD_BYTES:
            raise Rejection(413, "File too large", f"Files may be at most {MAX_UPLOAD_BYTES} bytes")
        upload = self.host.store_upload(
            provider=self.provider,
            upload_id=uuid.uuid4().hex,
            filename=part.filename or "",
            content_type=part.content_type or "",
            data=part.data,
        )
        return _success(
            {
                "download_url": upload.url,
                "file_name": upload.filename,
                "content_type": upload.content_type,
                "size": upload.size,
            }
        )


def _prediction(job: SimulatedJob) -> JSONObject:
    """The prediction object of status answers (inside ``data``) and of webhooks (their ``payload``)."""
    finished_at = job.completed_at
    return {
        "id": job.id,
        "status": _STATUS_WORDS[job.status],
        "model": job.meta.get("model"),
        "outputs": [job.output_url] if job.output_url is not None else [],
        "error": (job.error or "Generation failed") if job.status is JobStatus.FAILED else None,
        "metrics": {
            "predict_time": round(finished_at - job.created_at, 3) if finished_at is not None else None
        },
        "created_at": iso8601(job.created_at),
        "completed_at": iso8601(finished_at) if finished_at is not None else None,
    }


def _plan(body: JSONObject) -> JobPlan:
    """Validate a create body (every problem a 400 naming the field) into a job plan."""
    fields = FieldReader(body)
    fields.refuse("input", "is not accepted: send every parameter flat at the top level")
    fields.refuse_unknown(CREATE_FIELDS)
    model = fields.required_string("model")
    if model not in MODELS:
        raise invalid("model", f"must be one of {', '.join(MODELS)}", f"Got {model[:80]!r}")
    fields.required_string("prompt")
    if model == IMAGE_TO_VIDEO:
        fields.required_string("image")
        fields.optional_string("last_image")
    else:
        fields.refuse("image", f"is only accepted by {IMAGE_TO_VIDEO}")
        fields.refuse("last_image", f"is only accepted by {IMAGE_TO_VIDEO}")
    if model == REFERENCE_TO_VIDEO:
        counts = {
            name: len(fields.string_list(name, max_items=limit)) for name, limit in MAX_REFERENCES.items()
        }
        if counts["reference_images"] + counts["reference_videos"] == 0:
            raise invalid(
                "reference_images",
                f"or 'reference_videos' must hold at least one item for {REFERENCE_TO_VIDEO}",
            )
    else:
        for name in MAX_REFERENCES:
            fields.refuse(name, f"is only accepted by {REFERENCE_TO_VIDEO}")
    resolution = fields.optional_string("resolution", options=RESOLUTIONS, default="720p") or "720p"
    duration = fields.integer("duration", minimum=4, maximum=15, default=5) or 5
    aspect_ratio = fields.optional_string("aspect_ratio", options=ASPECT_RATIOS, default="auto") or "auto"
    generate_audio = fields.boolean("generate_audio", default=True)
    fields.integer("seed")
    fields.integer("fps", minimum=1, maximum=60)
    webhook_url = fields.http_url("webhook_url")
    width, height = dimensions_for(resolution, aspect_ratio)
    size = _explicit_size(fields)
    if size is not None:
        width, height = size
    return JobPlan(
        clip=ClipSpec(
            width=width, height=height, duration_seconds=duration, with_audio=generate_audio is True
        ),
        webhook_url=webhook_url,
        media=fields.media(*MEDIA_FIELDS),
        meta={"model": model},
    )


def _explicit_size(fields: FieldReader) -> tuple[int, int] | None:
    width = fields.integer("width", minimum=MIN_SIDE, maximum=MAX_SIDE)
    height = fields.integer("height", minimum=MIN_SIDE, maximum=MAX_SIDE)
    if width is None and height is None:
        return None
    if width is None or height is None:
        missing, given = ("width", "height") if width is None else ("height", "width")
        raise invalid(missing, f"is required when '{given}' is given")
    for name, value in (("width", width), ("height", height)):
        if value % 2:
            raise invalid(name, "must be an even number of pixels", f"Got {value}")
    return width, height


def _success(data: JSONObject) -> SimResponse:
    return SimResponse(200, {"code": 200, "message": "success", "data": data})
