"""The EachLabs Predictions API dialect for Seedance 2.0 (Fast), per provider-docs/eachlabs-seedance-2.0.txt.

Mounted at ``/eachlabs``:
``POST /v1/prediction``        create; ``{"status": "success", "message": ..., "predictionID": ...}``.
``GET /v1/prediction/{id}``    poll; ``status`` is ``processing``, ``success``, ``error`` or ``cancelled``.
``POST /v1/prediction/{id}/cancel``  cancel (docs.eachlabs.ai/api-reference/ai-models-prediction/
                               cancel-model-prediction): 200 ``{"status": "cancelled", "message",
                               "predictionID"}`` for a starting or processing prediction. The page documents
                               no other answer; ours: a finished one is 400 ``{"status": "error", ...}``, an
                               unknown one 404.
``GET /v1/model?slug=...``     the "check schema" step; the doc names it but not its response shape, so
                               this answers with a JSON schema built from the field table we validate with.

Beyond the doc: when the create call carries ``webhook_secret``, webhooks are signed with
``X-Webhook-Timestamp`` and ``X-Webhook-Signature: sha256=HMAC(secret, f"{timestamp}.{body}")``.
The signature is computed once per prediction; retries and duplicate copies resend identical bytes.

``image_url`` / ``end_image_url`` must be public https URLs (the simulator's own upload and output URLs
pass too); with ``allow_loopback_media`` loopback http(s) URLs are accepted and fetched at create time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import ClassVar, Literal

from local.simulator.fields import is_absolute_http_url, iso8601
from local.simulator.media import ClipSpec, dimensions_for, duration_seconds_for
from local.simulator.protocol import (
    CancelOutcome,
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

TEXT_TO_VIDEO = "bytedance-seedance-2-0-text-to-video-fast"
IMAGE_TO_VIDEO = "bytedance-seedance-2-0-image-to-video-fast"
MODEL_VERSION = "0.0.1"
RESOLUTIONS = ("480p", "720p")
DURATIONS = ("auto", *(str(seconds) for seconds in range(4, 16)))
ASPECT_RATIOS = ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
CREATE_KEYS = ("model", "version", "input", "webhook_url", "webhook_secret")
API_KEY_HEADER = "x-api-key"
SIGNATURE_HEADER = "X-Webhook-Signature"
TIMESTAMP_HEADER = "X-Webhook-Timestamp"

_BOTH_MODELS = frozenset({TEXT_TO_VIDEO, IMAGE_TO_VIDEO})
_ENDED_WORD = {JobStatus.CANCELLED: "cancelled"}
_IMAGE_MODEL_ONLY = frozenset({IMAGE_TO_VIDEO})


@dataclass(frozen=True)
class _InputField:
    name: str
    kind: Literal["string", "boolean"]
    description: str
    models: frozenset[str] = _BOTH_MODELS
    required_for: frozenset[str] = frozenset()
    options: tuple[str, ...] = ()
    default: JSONValue = None
    media_url: bool = False


_INPUT_FIELDS = (
    _InputField(
        "prompt", "string", "Text prompt; for i2v it describes the motion.", required_for=_BOTH_MODELS
    ),
    _InputField(
        "image_url",
        "string",
        "Starting frame. Publicly reachable HTTPS URL (JPEG/PNG/WebP, max 30 MB).",
        models=_IMAGE_MODEL_ONLY,
        required_for=_IMAGE_MODEL_ONLY,
        media_url=True,
    ),
    _InputField(
        "end_image_url",
        "string",
        "Final frame; the model interpolates between image_url and this.",
        models=_IMAGE_MODEL_ONLY,
        media_url=True,
    ),
    _InputField("resolution", "string", "Output resolution.", options=RESOLUTIONS, default="720p"),
    _InputField("duration", "string", "Clip length in seconds.", options=DURATIONS, default="auto"),
    _InputField("aspect_ratio", "string", "Output aspect ratio.", options=ASPECT_RATIOS, default="auto"),
    _InputField("generate_audio", "boolean", "Synchronized SFX, ambience and speech.", default=True),
    _InputField("seed", "string", "Reproducibility hint."),
    _InputField("end_user_id", "string", "Your end-user identifier."),
)
_INPUT_FIELDS_BY_NAME = {input_field.name: input_field for input_field in _INPUT_FIELDS}


def signature_headers(secret: str, timestamp: str, body: bytes) -> dict[str, str]:
    """The headers that sign a webhook `body` sent at `timestamp` with the prediction's `secret`."""
    signature = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: f"sha256={signature}"}


class EachLabsDialect(Dialect):
    provider = "eachlabs"
    #: "Cancel a running prediction by ID" (best-effort upstream; the simulator's upstream always stops).
    cancels_running_jobs: ClassVar[bool] = True

    def route(self, request: SimRequest) -> SimResponse:
        self._authenticate(request)
        path = request.path.rstrip("/")
        match (request.method, path):
            case ("POST", "/v1/prediction"):
                return self._create(request)
            case ("POST", _) if path.startswith("/v1/prediction/") and path.endswith("/cancel"):
                return self._cancel(path.removeprefix("/v1/prediction/").removesuffix("/cancel"))
            case ("GET", "/v1/model"):
                return self._model_schema(request)
            case ("GET", _) if path.startswith("/v1/prediction/"):
                return self._poll(path.removeprefix("/v1/prediction/"))
            case (_, "/v1/prediction" | "/v1/model"):
                raise self.method_not_allowed(request)
        raise self.not_found(request)

    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        return SimResponse(status, {"status": "error", "message": message, "details": details})

    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None:
            return None
        succeeded = job.status is JobStatus.SUCCEEDED
        body = json.dumps(
            {
                "exec_id": job.id,
                "status": "succeeded" if succeeded else _ENDED_WORD.get(job.status, "failed"),
                "output": job.output_url if succeeded else "",
                "error": "" if succeeded else (job.error or "Prediction failed"),
            },
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "EachLabs-Webhook-Simulator/1"}
        secret = job.request.get("webhook_secret")
        if isinstance(secret, str):
            headers.update(signature_headers(secret, str(int(time.time())), body))
        return OutgoingWebhook(url=job.webhook_url, body=body, headers=headers)

    # -- routes ---------------------------------------------------------------------------------------
    def _authenticate(self, request: SimRequest) -> None:
        presented = request.headers.get(API_KEY_HEADER)
        if presented is None:
            raise Rejection(401, "Unauthorized", "Missing X-API-Key header")
        self.accept_key(request, presented, "Invalid X-API-Key")

    def _create(self, request: SimRequest) -> SimResponse:
        prediction_id = self.start_job(request, str(uuid.uuid4()), _plan).id
        return SimResponse(
            200,
            {
                "status": "success",
                "message": "Prediction created successfully",
                "predictionID": prediction_id,
            },
        )

    def _poll(self, prediction_id: str) -> SimResponse:
        job = self.host.job(prediction_id, self.provider)
        if job is None:
            raise Rejection(404, "Prediction not found", f"No prediction with id {prediction_id!r}")
        status, message = {
            JobStatus.QUEUED: ("starting", "Prediction is starting"),
            JobStatus.PROCESSING: ("processing", "Prediction is processing"),
            JobStatus.SUCCEEDED: ("success", "Prediction completed successfully"),
            JobStatus.FAILED: ("error", "Prediction failed"),
            JobStatus.CANCELLED: ("cancelled", "Prediction cancelled"),
        }[job.status]
        return SimResponse(
            200,
            {
                "id": job.id,
                "status": status,
                "output": job.output_url if job.status is JobStatus.SUCCEEDED else None,
                "message": message,
                "details": job.error,
                "model": job.request.get("model"),
                "version": job.request.get("version"),
                "input": job.request.get("input"),
                "created_at": iso8601(job.created_at),
                "completed_at": None if job.completed_at is None else iso8601(job.completed_at),
            },
        )

    def _cancel(self, prediction_id: str) -> SimResponse:
        outcome = self.cancel(prediction_id)
        if outcome is CancelOutcome.NOT_FOUND:
            raise Rejection(404, "Prediction not found", f"No prediction with id {prediction_id!r}")
        if outcome is not CancelOutcome.CANCELLED:
            raise Rejection(400, "Prediction cannot be cancelled", "The prediction has already finished")
        return SimResponse(
            200,
            {
                "status": "cancelled",
                "message": "Prediction canceled successfully",
                "predictionID": prediction_id,
            },
        )

    def _model_schema(self, request: SimRequest) -> SimResponse:
        slug = request.query.get("slug")
        if not slug:
            raise invalid("slug", "query parameter is required")
        if slug not in _BOTH_MODELS:
            raise Rejection(404, f"Model not found: {slug}", "Unknown model slug")
        properties: JSONObject = {}
        for input_field in _INPUT_FIELDS:
            if slug not in input_field.models:
                continue
            schema: JSONObject = {"type": input_field.kind, "description": input_field.description}
            if input_field.options:
                schema["enum"] = list(input_field.options)
            if input_field.default is not None:
                schema["default"] = input_field.default
            properties[input_field.name] = schema
        required: list[JSONValue] = [f.name for f in _INPUT_FIELDS if slug in f.required_for]
        return SimResponse(
            200,
            {
                "slug": slug,
                "version": MODEL_VERSION,
                "request_schema": {
                    "type": "object",
                    "properties": properties,
                    "required": required,
                    "additionalProperties": False,
                },
            },
        )


def _plan(body: JSONObject) -> JobPlan:
    for key in body:
        if key not in CREATE_KEYS:
            raise invalid(
                key, "is not a recognised field", f"Allowed top-level fields: {', '.join(CREATE_KEYS)}"
            )

    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model", "is required and must be a string")
    if model not in _BOTH_MODELS:
        raise Rejection(404, f"Model not found: {model}", f"Known models: {TEXT_TO_VIDEO}, {IMAGE_TO_VIDEO}")
    version = body.get("version")
    if version != MODEL_VERSION:
        raise invalid("version", f'must be the string "{MODEL_VERSION}"', f"Got {json.dumps(version)}")

    model_input = body.get("input")
    if not isinstance(model_input, dict):
        raise invalid("input", "is required and must be an object")
    _validate_input(model, model_input)

    webhook_url = body.get("webhook_url")
    if webhook_url is not None and (
        not isinstance(webhook_url, str) or not is_absolute_http_url(webhook_url)
    ):
        raise invalid("webhook_url", "must be an absolute http(s) URL", f"Got {json.dumps(webhook_url)}")
    webhook_secret = body.get("webhook_secret")
    if webhook_secret is not None and (not isinstance(webhook_secret, str) or not webhook_secret):
        raise invalid("webhook_secret", "must be a non-empty string")

    def setting(name: str) -> JSONValue:
        value = model_input.get(name)
        return _INPUT_FIELDS_BY_NAME[name].default if value is None else value

    width, height = dimensions_for(str(setting("resolution")), str(setting("aspect_ratio")))
    clip = ClipSpec(
        width=width,
        height=height,
        duration_seconds=duration_seconds_for(str(setting("duration"))),
        with_audio=setting("generate_audio") is True,
    )
    media = [
        (f"input.{input_field.name}", value)
        for input_field in _INPUT_FIELDS
        if input_field.media_url and isinstance(value := model_input.get(input_field.name), str)
    ]
    return JobPlan(clip=clip, webhook_url=webhook_url if isinstance(webhook_url, str) else None, media=media)


def _validate_input(model: str, model_input: JSONObject) -> None:
    for key in model_input:
        input_field = _INPUT_FIELDS_BY_NAME.get(key)
        if input_field is None:
            raise invalid(
                f"input.{key}",
                "is not a recognised input field",
                f"Allowed input fields: {', '.join(_INPUT_FIELDS_BY_NAME)}",
            )
        if model not in input_field.models:
            raise invalid(f"input.{key}", f"is not accepted by {model}")

    for input_field in _INPUT_FIELDS:
        path = f"input.{input_field.name}"
        if input_field.name not in model_input:
            if model in input_field.required_for:
                raise invalid(path, f"is required for {model}")
            continue
        value = model_input[input_field.name]
        if input_field.kind == "boolean":
            if not isinstance(value, bool):
                raise invalid(path, "must be a boolean", f"Got {json.dumps(value)}")
            continue
        if not isinstance(value, str):
            raise invalid(path, "must be a string", f"Got {json.dumps(value)}")
        if input_field.options and value not in input_field.options:
            raise invalid(
                path, f"must be one of {', '.join(input_field.options)}", f"Got {json.dumps(value)}"
            )
        if input_field.name == "prompt" and not value.strip():
            raise invalid(path, "must not be empty")
