"""The fal.ai queue dialect for Seedance 2.0, per docs/provider-dialects.md ("fal.ai").

Mounted at ``/fal`` (standing for ``https://queue.fal.run``); ``Authorization: Key <key>`` on every route
but the JWKS:

- ``POST /bytedance/seedance-2.0/{text,image,reference}-to-video`` and the same under
  ``/bytedance/seedance-2.0/fast/``, optional ``?fal_webhook=<url>``: submit. The body is the model's
  input. Answers 200 ``{"request_id", "gateway_request_id", "response_url", "status_url", "cancel_url",
  "status": "IN_QUEUE", "queue_position"}``.
- ``GET /bytedance/seedance-2.0/requests/{id}/status`` (``?logs=1`` adds ``logs``): 202
  ``{"status": "IN_QUEUE", "queue_position", "response_url"}`` or ``{"status": "IN_PROGRESS", ...}``,
  200 ``{"status": "COMPLETED", "response_url", "metrics"}``, plus ``error`` and ``error_type`` when
  the request failed.
- ``GET /bytedance/seedance-2.0/requests/{id}``: the result, 200 ``{"video": {"url", "content_type",
  "file_name", "file_size"}, "seed"}``; a failed request answers its error (below); one not completed
  yet answers 400 ``{"detail": "Request is still in progress"}`` (ours).
- ``PUT /bytedance/seedance-2.0/requests/{id}/cancel``: 202 ``{"status": "CANCELLATION_REQUESTED"}`` (a
  queued request is removed, a running one stopped), 400 ``{"status": "ALREADY_COMPLETED"}``, 404
  ``{"status": "NOT_FOUND"}`` (the HTTP statuses are ours; fal documents the words).
- ``GET /.well-known/jwks.json`` (fal's keys live at ``https://rest.alpha.fal.ai/.well-known/jwks.json``;
  the local stack points ``FAL_JWKS_URL`` here): ``{"keys": [{"kty": "OKP", "crv": "Ed25519", "x"}]}``,
  no key ids (the public verifiers read only ``x``), newest first.

As fal's queue does, a submit is accepted whatever its input: a request whose input the model would
refuse (a missing ``prompt``, an unknown field, a media URL that cannot be fetched, ...) is queued,
then completes with an error, as the webhooks page shows: the webhook says ``"status": "ERROR", "error":
"Invalid status code: 422", "payload": {"detail": [{"loc", "msg", "type"}]}``, the status carries
``error``, and the result answers 422 with that ``detail``. A submit is refused at once only by the
gateway: a missing or wrong key (401), a body that is not a JSON object (400), an unknown endpoint
(404), a ``fal_webhook`` that is not an absolute http(s) URL (422), and the ``reject_creates_*`` faults.

Status and result paths use the owner and app only (the queue page: the subpath is used when submitting,
"but not when getting request status or results"); a subpath there is 404 (ours).

Webhook (when ``fal_webhook`` was given): one POST when the request is done, ``{"request_id",
"gateway_request_id", "status": "OK" | "ERROR", "payload", "error"}``; ``payload`` is the result (OK) or
the error detail (ERROR). Signed with the simulator's ``fal`` Ed25519 key ring:
``X-Fal-Webhook-Request-Id``, ``-User-Id`` (``sim-user-<hash of the API key>``, ours), ``-Timestamp``
(unix seconds), ``-Signature`` (hex) over ``"{request id}\\n{user id}\\n{timestamp}\\n{sha256 hex of the
body}"``; signed once per request (retries and duplicates resend identical bytes).
``POST /_sim/keys/rotate`` rotates the ring; the JWKS then lists old and new.

A failure of the ``fail_predictions`` fault is a request error (``error_type`` ``runner_server_error``,
result 500 with ``X-Fal-Error-Type``); a cancelled request completes with ``client_cancelled`` (499).
Errors of the gateway itself are ``{"detail": "<message>"}``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import ClassVar, cast

from local.simulator.fields import FieldReader, is_absolute_http_url
from local.simulator.media import ClipSpec, dimensions_for, duration_seconds_for
from local.simulator.protocol import (
    CancelOutcome,
    Dialect,
    JobStatus,
    JSONObject,
    JSONValue,
    OutgoingWebhook,
    Rejection,
    SimRequest,
    SimResponse,
    SimulatedJob,
    json_object_body,
)
from local.simulator.signing import Ed25519KeyRing

APP = "/bytedance/seedance-2.0"
TEXT_TO_VIDEO = "text-to-video"
IMAGE_TO_VIDEO = "image-to-video"
REFERENCE_TO_VIDEO = "reference-to-video"
MODES = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, REFERENCE_TO_VIDEO)
RESOLUTIONS = {"standard": ("480p", "720p", "1080p"), "fast": ("480p", "720p")}
DURATIONS = ("auto", *(str(seconds) for seconds in range(4, 16)))
ASPECT_RATIOS = ("auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16")
COMMON_FIELDS = ("prompt", "resolution", "duration", "aspect_ratio", "generate_audio", "seed")
MAX_REFERENCES = {"image_urls": 9, "video_urls": 3, "audio_urls": 3}
MAX_FILES = 12
JWKS_PATH = "/.well-known/jwks.json"
REQUEST_ID_HEADER = "X-Fal-Webhook-Request-Id"
USER_ID_HEADER = "X-Fal-Webhook-User-Id"
TIMESTAMP_HEADER = "X-Fal-Webhook-Timestamp"
SIGNATURE_HEADER = "X-Fal-Webhook-Signature"
ERROR_TYPE_HEADER = "X-Fal-Error-Type"
#: The clip a request that fails on its input still "renders" (it is never served): small, cached once.
_REFUSED_INPUT_CLIP = ClipSpec(width=864, height=480, duration_seconds=4, with_audio=False)
_REQUESTS_PREFIX = f"{APP}/requests/"


@dataclass(frozen=True)
class _Outcome:
    """How a finished request reads on the wire: its HTTP status and body as a result, and the words of
    its status and webhook."""

    http_status: int
    body: JSONObject
    error: str | None = None
    error_type: str | None = None


class FalDialect(Dialect):
    provider = "fal"
    cancels_running_jobs: ClassVar[bool] = True

    def route(self, request: SimRequest) -> SimResponse:
        path = request.path.rstrip("/")
        if path == JWKS_PATH:
            if request.method != "GET":
                raise self.method_not_allowed(request)
            return SimResponse(200, self._jwks())
        self._authenticate(request)
        if path.startswith(_REQUESTS_PREFIX):
            return self._request_route(request, path.removeprefix(_REQUESTS_PREFIX))
        endpoint = _endpoint(path)
        if endpoint is not None:
            if request.method != "POST":
                raise self.method_not_allowed(request)
            tier, mode = endpoint
            return self._submit(request, tier, mode)
        raise self.not_found(request)

    def pipeline_settings(self, base_url: str) -> dict[str, str]:
        return {"FAL_JWKS_URL": f"{base_url}{JWKS_PATH}"}

    def error(self, status: int, message: str, details: str = "") -> SimResponse:
        return SimResponse(status, {"detail": f"{message} ({details})" if details else message})

    def webhook_for(self, job: SimulatedJob) -> OutgoingWebhook | None:
        if job.webhook_url is None:
            return None
        outcome = self._outcome(job)
        ok = outcome.error is None
        document: JSONObject = {
            "request_id": job.id,
            "gateway_request_id": job.id,
            "status": "OK" if ok else "ERROR",
            "payload": outcome.body,
        }
        if not ok:
            document["error"] = f"Invalid status code: {outcome.http_status}"
        body = json.dumps(document, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "fal-webhook-simulator/1",
            **signature_headers(self.key_ring(), job.id, user_id(job.api_key), str(int(time.time())), body),
        }
        return OutgoingWebhook(url=job.webhook_url, body=body, headers=headers)

    # -- routes ---------------------------------------------------------------------------------------
    def _authenticate(self, request: SimRequest) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "key" or not key.strip():  # auth schemes ignore case (RFC 9110)
            raise Rejection(401, "Unauthorized", "Missing Authorization: Key <FAL_KEY> header")
        self.accept_key(request, key.strip(), "Invalid API key")

    def _jwks(self) -> JSONObject:
        keys = self.key_ring().jwks()["keys"]
        return {"keys": [{"kty": key["kty"], "crv": key["crv"], "x": key["x"]} for key in keys]}

    def _submit(self, request: SimRequest, tier: str, mode: str) -> SimResponse:
        self.refuse_if_faulted()
        webhook_url = request.query.get("fal_webhook")
        if webhook_url is not None and not is_absolute_http_url(webhook_url):
            raise Rejection(422, "fal_webhook must be an absolute http(s) URL", f"Got {webhook_url[:200]!r}")
        body = json_object_body(request)
        request_id = str(uuid.uuid4())
        meta: JSONObject = {"endpoint": f"{APP.lstrip('/')}/{'fast/' if tier == 'fast' else ''}{mode}"}
        clip, fetches = _REFUSED_INPUT_CLIP, []
        # fal's queue takes the request whatever its input; the model refuses it when it runs.
        try:
            clip, media = _validated(body, tier, mode)
        except Rejection as refused:
            meta["input_error"] = _input_error(refused, "value_error")
        else:
            try:
                fetches = self.host.check_media(media)
            except Rejection as refused:
                meta["input_error"] = _input_error(refused, "file_download_error")
        job = self.host.submit(
            job_id=request_id,
            provider=self.provider,
            request=body,
            clip=clip,
            webhook_url=webhook_url,
            meta=meta,
            media_fetches=fetches,
            api_key=request.context.api_key,
        )
        if job.ambiguous_create:
            request.context.disconnect = True
        urls = self._urls(request_id)
        return SimResponse(
            200,
            {
                "request_id": request_id,
                "gateway_request_id": request_id,
                "response_url": urls["response_url"],
                "status_url": urls["status_url"],
                "cancel_url": urls["cancel_url"],
                "status": "IN_QUEUE",
                "queue_position": 0,
            },
        )

    def _request_route(self, request: SimRequest, rest: str) -> SimResponse:
        request_id, _, action = rest.partition("/")
        match (request.method, action):
            case ("GET", "status"):
                return self._status(request, request_id)
            case ("GET", ""):
                return self._result(request_id)
            case ("PUT", "cancel"):
                return self._cancel(request_id)
            case (_, "status" | "" | "cancel"):
                raise self.method_not_allowed(request)
        raise self.not_found(request)

    def _status(self, request: SimRequest, request_id: str) -> SimResponse:
        job = self._job(request_id)
        body: JSONObject = {"response_url": self._urls(request_id)["response_url"]}
        if request.query.get("logs") in ("1", "true"):
            body["logs"] = []
        if job.status is JobStatus.QUEUED:
            return SimResponse(202, {"status": "IN_QUEUE", "queue_position": 0, **body})
        if job.status is JobStatus.PROCESSING:
            return SimResponse(202, {"status": "IN_PROGRESS", **body})
        outcome = self._outcome(job)
        started = job.started_at or job.created_at
        finished = job.completed_at or started
        completed: JSONObject = {
            "status": "COMPLETED",
            **body,
            "metrics": {"inference_time": round(max(finished - started, 0.0), 3)},
        }
        if outcome.error is not None:
            completed["error"] = outcome.error
            completed["error_type"] = outcome.error_type
        return SimResponse(200, completed)

    def _result(self, request_id: str) -> SimResponse:
        job = self._job(request_id)
        if not job.status.finished:
            raise Rejection(400, "Request is still in progress")
        outcome = self._outcome(job)
        headers = {ERROR_TYPE_HEADER: outcome.error_type} if outcome.error_type else {}
        return SimResponse(outcome.http_status, outcome.body, headers)

    def _cancel(self, request_id: str) -> SimResponse:
        outcome = self.cancel(request_id)
        if outcome is CancelOutcome.CANCELLED:
            return SimResponse(202, {"status": "CANCELLATION_REQUESTED"})
        if outcome is CancelOutcome.NOT_FOUND:
            return SimResponse(404, {"status": "NOT_FOUND"})
        return SimResponse(400, {"status": "ALREADY_COMPLETED"})

    # -- helpers --------------------------------------------------------------------------------------
    def _job(self, request_id: str) -> SimulatedJob:
        job = self.host.job(request_id, self.provider)
        if job is None:
            raise Rejection(404, "Request not found", f"No request with id {request_id!r}")
        return job

    def _urls(self, request_id: str) -> dict[str, str]:
        base = f"{self.host.provider_base_url(self.provider)}{_REQUESTS_PREFIX}{request_id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def _outcome(self, job: SimulatedJob) -> _Outcome:
        input_error = job.meta.get("input_error")
        if input_error is not None:
            return _Outcome(422, {"detail": [input_error]}, error="Invalid status code: 422")
        if job.status is JobStatus.CANCELLED:
            detail = "Request was cancelled"
            return _Outcome(
                499, {"detail": detail, "error_type": "client_cancelled"}, detail, "client_cancelled"
            )
        if job.status is JobStatus.FAILED:
            detail = job.error or "Generation failed"
            return _Outcome(
                500, {"detail": detail, "error_type": "runner_server_error"}, detail, "runner_server_error"
            )
        video: JSONObject = {
            "url": job.output_url,
            "content_type": "video/mp4",
            "file_name": f"{job.id}.mp4",
            "file_size": job.output_size,
        }
        seed = job.request.get("seed")
        return _Outcome(200, {"video": video, "seed": seed if isinstance(seed, int) else _seed_of(job.id)})


def _endpoint(path: str) -> tuple[str, str] | None:
    """(tier, mode) of a submit path, or None."""
    if not path.startswith(f"{APP}/"):
        return None
    rest = path.removeprefix(f"{APP}/")
    tier = "standard"
    if rest.startswith("fast/"):
        tier, rest = "fast", rest.removeprefix("fast/")
    return (tier, rest) if rest in MODES else None


def _validated(body: JSONObject, tier: str, mode: str) -> tuple[ClipSpec, list[tuple[str, str]]]:
    """The clip and the media inputs of a model input the model accepts; a `Rejection` naming the field
    for one it refuses (the model pages' input schemas)."""
    fields = FieldReader(body)
    allowed = list(COMMON_FIELDS)
    if mode == IMAGE_TO_VIDEO:
        allowed += ["image_url", "end_image_url"]
    elif mode == REFERENCE_TO_VIDEO:
        allowed += list(MAX_REFERENCES)
    elif tier == "fast":
        allowed.append("end_user_id")  # listed on the fast text-to-video page only
    fields.refuse_unknown(allowed)
    fields.required_string("prompt")
    resolution = fields.optional_string("resolution", options=RESOLUTIONS[tier], default="720p") or "720p"
    duration = fields.optional_string("duration", options=DURATIONS, default="auto") or "auto"
    aspect_ratio = fields.optional_string("aspect_ratio", options=ASPECT_RATIOS, default="auto") or "auto"
    generate_audio = fields.boolean("generate_audio", default=True)
    fields.integer("seed")
    fields.optional_string("end_user_id")
    if mode == IMAGE_TO_VIDEO:
        fields.required_string("image_url")
        fields.optional_string("end_image_url")
    if mode == REFERENCE_TO_VIDEO:
        counts = {
            name: len(fields.string_list(name, max_items=limit)) for name, limit in MAX_REFERENCES.items()
        }
        if sum(counts.values()) > MAX_FILES:
            raise Rejection(
                400, "image_urls", f"Total files across all modalities must not exceed {MAX_FILES}"
            )
        if counts["audio_urls"] and not (counts["image_urls"] or counts["video_urls"]):
            raise Rejection(
                400, "audio_urls", "If audio is provided, at least one reference image or video is required"
            )
    width, height = dimensions_for(resolution, aspect_ratio)
    clip = ClipSpec(
        width=width,
        height=height,
        duration_seconds=duration_seconds_for(duration),
        with_audio=generate_audio is True,
    )
    return clip, fields.media("image_url", "end_image_url", *MAX_REFERENCES)


def _input_error(refused: Rejection, kind: str) -> JSONValue:
    """A refused input as one entry of fal's model error ``detail`` list: ``{"loc", "msg", "type"}``."""
    message = refused.message
    if message.startswith("Invalid request: '"):
        # FieldReader's words: "Invalid request: 'image_urls[2]' must be ..."
        quoted, _, problem = message.removeprefix("Invalid request: '").partition("' ")
        location: list[JSONValue] = ["body", *quoted.replace("[", ".").replace("]", "").split(".")]
        text = f"{quoted} {problem}".strip()
    else:
        location = ["body", message]
        text = refused.details or message
    if refused.details and refused.details not in text:
        text = f"{text} ({refused.details})"
    return cast(JSONValue, {"loc": location, "msg": text, "type": kind})


def user_id(api_key: str | None) -> str:
    """The user id the webhooks of jobs created with `api_key` carry (ours: fal's is the account's)."""
    return f"sim-user-{hashlib.sha256((api_key or '').encode()).hexdigest()[:12]}"


def signature_headers(
    keys: Ed25519KeyRing, request_id: str, user: str, timestamp: str, body: bytes
) -> dict[str, str]:
    """The headers that sign a webhook `body` about `request_id` sent at `timestamp`."""
    message = "\n".join((request_id, user, timestamp, hashlib.sha256(body).hexdigest())).encode()
    _, signature = keys.sign(message)
    return {
        REQUEST_ID_HEADER: request_id,
        USER_ID_HEADER: user,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature.hex(),
    }


def _seed_of(request_id: str) -> int:
    return int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16)
