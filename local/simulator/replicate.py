"""The Replicate dialect for ByteDance's Seedance 2.0 official models, per docs/provider-dialects.md
("Replicate"): Replicate's HTTP API reference, the models' API pages and its webhook pages.

Mounted at ``/replicate``; ``Authorization: Bearer <token>`` on every route:

- ``POST /v1/models/bytedance/seedance-2.0/predictions`` and ``.../seedance-2.0-fast/predictions``:
  create, ``{"input": {...}, "webhook", "webhook_events_filter", "stream"}`` (nothing else: the request
  schema has ``additionalProperties: false``); answers ``201`` with the prediction, status ``starting``.
- ``GET /v1/predictions/{id}``: the prediction.
- ``POST /v1/predictions/{id}/cancel``: cancels a starting or processing prediction (``200``, the
  prediction, now ``canceled``); a finished one is answered as it is (``200``, its status unchanged);
  an unknown one ``404``.
- ``GET /v1/webhooks/default/secret``: ``{"key": "whsec_<base64>"}``, the account's webhook signing secret
  (one per simulator: every API key here belongs to the same account).

The prediction: ``{id, model, version, input, logs, output, error, status, created_at, started_at,
completed_at, data_removed, source, metrics: {predict_time}, urls: {get, cancel}}``; ``status`` is
``starting`` (while held in the simulator's queue), ``processing``, ``succeeded``, ``failed`` or
``canceled``; ``output`` is the MP4's URL (a string, as the models' output schema says).

Input (the models' input schema): ``prompt`` (required, at most 4000 characters), ``image``,
``last_frame_image`` (needs ``image``; neither goes with ``reference_images``), ``reference_images`` (9),
``reference_videos`` (3), ``reference_audios`` (3, needing a reference image or video), ``duration``
(integer, default 5; −1 lets the model choose, 5 s here), ``resolution`` (480p/720p, and on seedance-2.0
also 1080p/4k; default 720p), ``aspect_ratio`` (16:9, 4:3, 1:1, 3:4, 9:16, 21:9, 9:21 or adaptive; default
16:9; adaptive renders 16:9 here), ``generate_audio`` (default true), ``seed``.

Errors are problem details ``{"title", "detail", "status"}``; input problems are ``422`` ("Input validation
failed", the detail naming ``input.<field>``), a throttled create ``429`` ``{"detail": "Request was
throttled. ..."}`` as the rate-limits page shows.

Webhooks (when ``webhook`` was given): the body is the prediction, signed per Standard Webhooks with the
account secret: ``webhook-id`` (``msg_<random>``, one per webhook, the same on its retries),
``webhook-timestamp`` (seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 over
"{id}.{timestamp}.{body}" keyed with the secret's base64-decoded part>``. Events follow
``webhook_events_filter``: ``completed`` (the terminal webhook, retried on failure) and ``start`` (once, when
the prediction starts, not retried by Replicate but retried here like every status webhook). Without a
filter Replicate sends on new output and completion; the simulator's clip exists only at completion, so
it sends the terminal webhook then. ``output`` and ``logs`` events are never sent (ours: no intermediate
output or logs exist).

Ours, where the pages are silent: the 422/404/401 titles, duration 0-3 refused (Seedance takes 4-15 or
-1), unknown ``input`` fields refused, ``version`` answered as ``"hidden"``, prediction ids of 26
lowercase letters and digits.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
from typing import ClassVar

from local.simulator.fields import FieldReader, iso8601
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

STANDARD_MODEL = "bytedance/seedance-2.0"
FAST_MODEL = "bytedance/seedance-2.0-fast"
RESOLUTIONS = {
    STANDARD_MODEL: ("480p", "720p", "1080p", "4k"),
    FAST_MODEL: ("480p", "720p"),
}
ASPECT_RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21", "adaptive")
CREATE_FIELDS = ("input", "webhook", "webhook_events_filter", "stream")
INPUT_FIELDS = (
    "prompt",
    "image",
    "last_frame_image",
    "reference_images",
    "reference_videos",
    "reference_audios",
    "duration",
    "resolution",
    "aspect_ratio",
    "generate_audio",
    "seed",
)
MEDIA_FIELDS = ("image", "last_frame_image", "reference_images", "reference_videos", "reference_audios")
MAX_REFERENCES = {"reference_images": 9, "reference_videos": 3, "reference_audios": 3}
WEBHOOK_EVENTS = ("start", "output", "logs", "completed")
MAX_PROMPT_CHARACTERS = 4000
INTELLIGENT_DURATION = -1
#: What the simulator renders for duration -1 and aspect ratio "adaptive" (ours).
CHOSEN_DURATION_SECONDS = 5
CHOSEN_ASPECT_RATIO = "16:9"
SECRET_PATH = "/v1/webhooks/default/secret"  # noqa: S105 - the endpoint's path, not a secret
SECRET_LABEL = "replicate/webhook-secret"  # noqa: S105 - what the secret is derived under, not a secret
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

_PREDICTIONS = "/v1/predictions/"
_ID_ALPHABET = string.ascii_lowercase + string.digits
_STATUS_WORDS = {
    JobStatus.QUEUED: "starting",
    JobStatus.PROCESSING: "processing",
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.CANCELLED: "canceled",
}
_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    404: "Not found",
    405: "Method not allowed",
    413: "Payload too large",
    422: "Input validation failed",
}


def account_secret(key: bytes) -> str:
    """A Standard Webhooks secret: ``whsec_`` and the key's 32 bytes in base64."""
    return "whsec_" + base64.b64encode(key).decode()


def sign(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64>``: HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` with the secret's decoded key, as
    replicate.com/docs/topics/webhooks/verify-webhook describes (written here, not shared with the
    pipeline's own Standard Webhooks module, so that the two can disagree if either is wrong)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class ReplicateDialect(Dialect):
    provider = "replicate"
    #: Replicate cancels a running prediction, not only a queued one.
    cancels_running_jobs: ClassVar[bool] = True

    def __init__(self, host: Host) -> None:
        super().__init__(host)
        #: The account's webhook signing secret (random, or from the simulator's signing seed).
        self.secret = account_secret(host.derived_secret(SECRET_LABEL))
        self._started: set[str] = set()
        self._lock = threading.Lock()

    def route(self, request: SimRequest) -> SimResponse:
        self.require_bearer(request)
        path = request.path.rstrip("/")
        match (request.method, path):
            case ("POST", _) if path.startswith("/v1/models/") and path.endswith("/predictions"):
                return self._create(request, path.removeprefix("/v1/models/").removesuffix("/predictions"))
            case ("GET", "/v1/webhooks/default/secret"):
                return SimResponse(200, {"key": self.secret})
            case ("POST", _) if path.startswith(_PREDICTIONS) and path.endswith("/cancel"):
                return self._cancel(path.removeprefix(_PREDICTIONS).removesuffix("/cancel"))
            case ("GET", _) if path.startswith(_PREDICTIONS) and "/" not in path.removeprefix(_PREDICTIONS):
                return self._status(path.removeprefix(_PREDICTIONS))
            case (_, "/v1/webhooks/default/secret"):
                raise self.method_not_allowed(request)
        raise self.not_found(request)

    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        detail = f"{message}: {details}" if details else message
        if status == 429:
            return SimResponse(status, {"detail": f"Request was throttled. {detail}"})
        title = _TITLES.get(status, "Internal server error" if status >= 500 else "Error")
        return SimResponse(status, {"title": title, "detail": detail, "status": status})

    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None or "completed" not in _events(job):
            return None
        return self._signed(job)

    def webhook_on_change(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None or "start" not in _events(job):
            return None
        with self._lock:
            if job.id in self._started:
                return None  # "start" is sent once, when the prediction starts
            self._started.add(job.id)
        return self._signed(job)

    # -- routes ---------------------------------------------------------------------------------------
    def _create(self, request: SimRequest, model: str) -> SimResponse:
        if model not in RESOLUTIONS:
            raise Rejection(404, "Model not found", f"{model!r} is not a model this simulator runs")
        prediction_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))
        try:
            job = self.start_job(request, prediction_id, lambda body: _plan(body, model))
        except Rejection as rejection:
            if rejection.status != 400:
                raise
            raise Rejection(422, rejection.message, rejection.details) from None
        return SimResponse(201, self._prediction(job))

    def _status(self, prediction_id: str) -> SimResponse:
        return SimResponse(200, self._prediction(self._job(prediction_id)))

    def _cancel(self, prediction_id: str) -> SimResponse:
        self._job(prediction_id)
        outcome = self.cancel(prediction_id)
        if outcome is CancelOutcome.NOT_FOUND:
            raise _not_found(prediction_id)
        # Cancelled now, or finished before: either way the prediction as it is.
        return SimResponse(200, self._prediction(self._job(prediction_id)))

    def _job(self, prediction_id: str) -> SimulatedJob:
        job = self.host.job(prediction_id, self.provider)
        if job is None:
            raise _not_found(prediction_id)
        return job

    # -- wire objects ---------------------------------------------------------------------------------
    def _prediction(self, job: SimulatedJob) -> JSONObject:
        base = self.host.provider_base_url(self.provider)
        finished_at = job.completed_at
        metrics: JSONObject = {}
        if job.status.finished and finished_at is not None:
            metrics["predict_time"] = round(finished_at - (job.started_at or job.created_at), 3)
        request_input = job.request.get("input")
        return {
            "id": job.id,
            "model": job.meta.get("model"),
            "version": "hidden",
            "input": request_input if isinstance(request_input, dict) else {},
            "logs": "",
            "output": job.output_url if job.status is JobStatus.SUCCEEDED else None,
            "error": (job.error or "Prediction failed") if job.status is JobStatus.FAILED else None,
            "status": _STATUS_WORDS[job.status],
            "created_at": iso8601(job.created_at),
            "started_at": iso8601(job.started_at) if job.started_at is not None else None,
            "completed_at": iso8601(finished_at) if finished_at is not None else None,
            "data_removed": False,
            "source": "api",
            "metrics": metrics,
            "urls": {
                "get": f"{base}{_PREDICTIONS}{job.id}",
                "cancel": f"{base}{_PREDICTIONS}{job.id}/cancel",
            },
        }

    def _signed(self, job: SimulatedJob) -> OutgoingWebhook:
        assert job.webhook_url is not None  # noqa: S101 - the callers checked
        body = json.dumps(self._prediction(job), separators=(",", ":")).encode()
        message_id = "msg_" + secrets.token_urlsafe(20)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Replicate-Webhook-Simulator/1",
            ID_HEADER: message_id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.secret, message_id, timestamp, body),
        }
        return OutgoingWebhook(url=job.webhook_url, body=body, headers=headers)


def _not_found(prediction_id: str) -> Rejection:
    return Rejection(404, "Not found", f"No prediction with id {prediction_id[:64]!r}")


def _events(job: SimulatedJob) -> tuple[str, ...]:
    events = job.meta.get("webhook_events")
    if not isinstance(events, list):
        return ("output", "completed")  # Replicate's default: new output, and completion
    return tuple(event for event in events if isinstance(event, str))


def _plan(body: JSONObject, model: str) -> JobPlan:
    """Validate a create body (each problem a 400 naming the field, answered as 422) into a job plan."""
    fields = FieldReader(body)
    fields.refuse_unknown(CREATE_FIELDS)
    fields.boolean("stream")
    webhook_url = fields.http_url("webhook")
    events = _events_filter(fields)
    job_input = fields.nested("input")
    if job_input is None:
        raise invalid("input", "is required")
    job_input.refuse_unknown(INPUT_FIELDS)
    prompt = job_input.required_string("prompt")
    if len(prompt) > MAX_PROMPT_CHARACTERS:
        raise invalid("input.prompt", f"must be at most {MAX_PROMPT_CHARACTERS} characters")
    image = job_input.optional_string("image")
    last_frame = job_input.optional_string("last_frame_image")
    counts = {
        name: len(job_input.string_list(name, max_items=limit)) for name, limit in MAX_REFERENCES.items()
    }
    if last_frame is not None and image is None:
        raise invalid("input.last_frame_image", "only works if a first frame image is also provided")
    if counts["reference_images"] and (image is not None or last_frame is not None):
        raise invalid("input.reference_images", "cannot be used together with first/last frame images")
    if counts["reference_audios"] and not (counts["reference_images"] or counts["reference_videos"]):
        raise invalid("input.reference_audios", "requires at least one reference image or video")
    duration = job_input.integer("duration", minimum=INTELLIGENT_DURATION, maximum=15, default=5)
    if duration is not None and 0 <= duration < 4:
        raise invalid("input.duration", "must be -1 or between 4 and 15", f"Got {duration}")
    resolution = job_input.optional_string("resolution", options=RESOLUTIONS[model], default="720p") or "720p"
    aspect_ratio = job_input.optional_string("aspect_ratio", options=ASPECT_RATIOS, default="16:9") or "16:9"
    generate_audio = job_input.boolean("generate_audio", default=True)
    job_input.integer("seed")
    seconds = CHOSEN_DURATION_SECONDS if duration in (None, INTELLIGENT_DURATION) else duration
    width, height = dimensions_for(
        resolution, CHOSEN_ASPECT_RATIO if aspect_ratio == "adaptive" else aspect_ratio
    )
    meta: JSONObject = {"model": model}
    if events is not None:
        meta["webhook_events"] = list[JSONValue](events)
    return JobPlan(
        clip=ClipSpec(
            width=width, height=height, duration_seconds=seconds, with_audio=generate_audio is True
        ),
        webhook_url=webhook_url,
        media=job_input.media(*MEDIA_FIELDS),
        meta=meta,
    )


def _events_filter(fields: FieldReader) -> list[str] | None:
    value = fields.values.get("webhook_events_filter")
    if value is None:
        return None
    if not isinstance(value, list):
        raise invalid(
            "webhook_events_filter", "must be an array", f"Allowed items: {', '.join(WEBHOOK_EVENTS)}"
        )
    for index, event in enumerate(value):
        if event not in WEBHOOK_EVENTS:
            raise invalid(f"webhook_events_filter[{index}]", f"must be one of {', '.join(WEBHOOK_EVENTS)}")
    return [event for event in value if isinstance(event, str)]
