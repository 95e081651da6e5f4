"""Atlas Cloud model API (../shared/provider-docs/atlascloud-seedance-2.0-image-to-video.txt,
https://www.atlascloud.ai/docs/webhooks and docs/provider-dialects.md).

Create: POST /api/v1/model/generateVideo with a Bearer key, every parameter flat at the top level,
model text-to-video, image-to-video (a first frame) or reference-to-video (reference media, ours).
Answers {"code", "message", "data": {id, status, ...}}, or the bare {id, status}.
Status: GET /api/v1/model/prediction/{id} -> data.status processing|completed|succeeded|failed,
data.outputs[0], data.error. Status words are read with the shared tolerant vocabulary of _status.py.
Upload: POST /api/v1/model/uploadMedia, multipart part "file" -> data.download_url.
Webhook: one signed POST when the task is terminal, an envelope
{"session_id", "event_type": "video.task.terminal", "status": "OK"|"ERROR", "payload": <the prediction
object a status GET returns>, "error"}; signed with Ed25519 over "{timestamp}.{raw body}":
X-AtlasCloud-Webhook-Timestamp, -Key-Id and -Signature-Ed25519 (base64url); keys from the JWKS. A signed
body that is the bare prediction (or the prediction in "data"), our earlier reading, is still accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from videojobs.errors import CancelRefused, InvalidWebhook, ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, Mode, ProviderReceipt, ProviderState, ProviderUpdate, WebhookTarget
from videojobs.observability import logger
from videojobs.ports import Clock, MediaFile
from videojobs.providers._http import (
    RETRYABLE_STATUS,
    ProviderApi,
    describe_validation_error,
    parse_wire,
    without_nones,
)
from videojobs.providers._jwks import JwksKeys, decode_base64url
from videojobs.providers._status import StatusWords

TEXT_TO_VIDEO = "bytedance/seedance-2.0/text-to-video"
IMAGE_TO_VIDEO = "bytedance/seedance-2.0/image-to-video"
REFERENCE_TO_VIDEO = "bytedance/seedance-2.0/reference-to-video"
TIMESTAMP_HEADER = "x-atlascloud-webhook-timestamp"
KEY_ID_HEADER = "x-atlascloud-webhook-key-id"
SIGNATURE_HEADER = "x-atlascloud-webhook-signature-ed25519"
#: Read only when the Ed25519 header is absent (ours: a signature moved to the bare header must still
#: be 64 bytes of base64url and verify, so nothing else can pass through it).
BARE_SIGNATURE_HEADER = "x-atlascloud-webhook-signature"
WEBHOOK_ID_HEADER = "x-atlascloud-webhook-id"
EVENT_HEADER = "x-atlascloud-webhook-event"
VIDEO_EVENT = "video.task.terminal"
ED25519_SIGNATURE_BYTES = 64
STATUS_WORDS = StatusWords.of("atlascloud", running=("created", "starting"), failed=("timeout", "timed_out"))
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class _Enveloped(BaseModel):
    """A wire object that Atlas may send bare or wrapped in {"code", "message", "data"}."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _unwrap(cls, value: Any) -> Any:
        if isinstance(value, dict) and "id" not in value and isinstance(value.get("data"), dict):
            return value["data"]
        return value


class _Prediction(_Enveloped):
    """The prediction object: ``data`` of a status answer, ``payload`` of a webhook envelope."""

    id: str | None = None
    #: Any word: a status we do not know must not fail the job (see _status.py).
    status: str | None = None
    outputs: list[Any] | None = None
    error: Any = None

    def output_url(self) -> str | None:
        for output in self.outputs or []:
            url = output.get("url") if isinstance(output, dict) else output
            if isinstance(url, str) and url:
                return url
        return None


class _Envelope(BaseModel):
    """A webhook as Atlas sends it (https://www.atlascloud.ai/docs/webhooks)."""

    model_config = ConfigDict(extra="ignore")

    session_id: str | None = None
    event_type: str | None = None
    status: str | None = None
    payload: _Prediction | None = None
    error: Any = None


class _Created(_Enveloped):
    # Only the id matters here: a status word we do not know must not fail a job that was created.
    id: str = Field(min_length=1)


class _Upload(_Enveloped):
    download_url: str = Field(min_length=1)


MODELS: dict[Mode, str] = {
    "text_to_video": TEXT_TO_VIDEO,
    "image_to_video": IMAGE_TO_VIDEO,
    "reference_to_video": REFERENCE_TO_VIDEO,
}


def _body(request: JobRequest, webhook: WebhookTarget) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "model": MODELS[request.mode],
        "prompt": request.prompt,
        "image": request.first_frame_url,
        "last_image": request.last_frame_url,
        "reference_images": request.reference_image_urls or None,
        "reference_videos": request.reference_video_urls or None,
        "reference_audios": request.reference_audio_urls or None,
        "resolution": request.resolution,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "generate_audio": request.generate_audio,
        "seed": request.seed,
        "webhook_url": webhook.url,
    }
    return without_nones(fields)


def _text(value: object) -> str | None:
    """An error as words: a string, or the message of an {"message", "code"} object."""
    if isinstance(value, dict):
        value = value.get("message") or value.get("code")
    if value is None or value == "":
        return None
    return str(value)[:1000]


def _update(prediction: _Prediction, provider_job_id: str, *, source: str) -> ProviderUpdate:
    state = STATUS_WORDS.state(prediction.status, source=source, provider_job_id=provider_job_id)
    if state is ProviderState.SUCCEEDED:
        return ProviderUpdate(
            provider_job_id=provider_job_id, state=state, output_url=prediction.output_url()
        )
    if state is ProviderState.FAILED:
        return ProviderUpdate(
            provider_job_id=provider_job_id, state=state, error_message=_text(prediction.error)
        )
    return ProviderUpdate(provider_job_id=provider_job_id, state=state)


def _envelope_update(envelope: _Envelope, webhook_id: str | None) -> ProviderUpdate:
    """Both verdicts count: the envelope's OK/ERROR and the payload's own status word."""
    payload = envelope.payload or _Prediction()
    prediction_id = envelope.session_id or payload.id
    if not prediction_id:
        raise InvalidWebhook("session_id: the webhook names no prediction")
    if payload.id and payload.id != prediction_id:
        logger.warning(
            "atlas webhook payload names another prediction than its session_id",
            provider="atlascloud",
            session_id=prediction_id,
            payload_id=payload.id[:128],
            webhook_id=webhook_id,
        )
    if envelope.event_type is not None and envelope.event_type != VIDEO_EVENT:
        logger.info("atlas webhook of another event type", event_type=envelope.event_type[:64])
    verdict = (envelope.status or "").strip().upper()
    if verdict == "ERROR":
        message = _text(envelope.error) or _text(payload.error) or "Atlas Cloud reported an error"
        return ProviderUpdate(
            provider_job_id=prediction_id, state=ProviderState.FAILED, error_message=message
        )
    if verdict != "OK":
        logger.warning(
            "atlas webhook with an unknown envelope status; reading the payload's",
            provider="atlascloud",
            provider_job_id=prediction_id,
            envelope_status=(envelope.status or "")[:64] or None,
        )
    if payload.status is None and verdict == "OK":
        # A terminal event that says OK and no more: the task succeeded.
        return ProviderUpdate(
            provider_job_id=prediction_id, state=ProviderState.SUCCEEDED, output_url=payload.output_url()
        )
    update = _update(payload, prediction_id, source="webhook")
    if update.state is ProviderState.FAILED and update.error_message is None:
        return update.model_copy(update={"error_message": _text(envelope.error)})
    return update


def _is_envelope(document: dict[str, Any]) -> bool:
    return bool({"session_id", "payload", "event_type"} & document.keys())


def _validated[ModelT: BaseModel](model: type[ModelT], document: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise InvalidWebhook(describe_validation_error(error)) from error


class AtlasCloudProvider:
    name: Literal["atlascloud"] = "atlascloud"

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        api_key: SecretStr,
        jwks_url: str,
        clock: Clock,
        max_webhook_age: timedelta,
    ) -> None:
        self._api = ProviderApi.with_bearer_key(
            client, provider=self.name, base_url=base_url, api_key=api_key
        )
        self._clock = clock
        self._max_webhook_age = max_webhook_age
        self._keys = JwksKeys(client, jwks_url, provider=self.name, clock=clock)

    def _call(self, method: str, path: str, *, json: Any = None) -> Any:
        data = self._api.call(method, path, json=json)
        self._check_envelope(data)
        return data

    def _check_envelope(self, data: Any) -> None:
        # The envelope repeats the HTTP status in "code"; a 200 carrying an error code is an error.
        code = data.get("code") if isinstance(data, dict) else None
        if isinstance(code, int) and not 200 <= code < 300:
            raise ProviderError(
                f"{self.name} answered code {code}: {str(data.get('message') or '')[:300]}",
                retryable=code in RETRYABLE_STATUS,
                status_code=code,
            )

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        data = self._call("POST", "/api/v1/model/generateVideo", json=_body(request, webhook))
        created = parse_wire(_Created, data, provider=self.name)
        return ProviderReceipt(provider_job_id=created.id)

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        data = self._call("GET", f"/api/v1/model/prediction/{quote(provider_job_id, safe='')}")
        prediction = parse_wire(_Prediction, data, provider=self.name)
        return _update(prediction, provider_job_id, source="status")

    def upload_media(self, media: MediaFile) -> str:
        data = self._api.upload("/api/v1/model/uploadMedia", media)
        self._check_envelope(data)
        return parse_wire(_Upload, data, provider=self.name).download_url

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        # Atlas signs with its own published key; the per-job signing_secret plays no part.
        lowered = {key.lower(): value for key, value in headers.items()}
        self._verify_signature(lowered, body)
        try:
            document = json.loads(body)
        except ValueError as error:
            raise InvalidWebhook("body is not JSON") from error
        if not isinstance(document, dict):
            raise InvalidWebhook("body is not a JSON object")
        if _is_envelope(document):
            envelope = _validated(_Envelope, document)
            return _envelope_update(envelope, lowered.get(WEBHOOK_ID_HEADER))
        # Our earlier reading of the docs: the prediction itself (bare or in "data"), still accepted.
        prediction = _validated(_Prediction, document)
        if not prediction.id:
            raise InvalidWebhook("id: the webhook names no prediction")
        return _update(prediction, prediction.id, source="webhook")

    def _verify_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        kid = headers.get(KEY_ID_HEADER, "")
        encoded = headers.get(SIGNATURE_HEADER) or headers.get(BARE_SIGNATURE_HEADER, "")
        if not _UNIX_SECONDS.fullmatch(timestamp) or not kid or not encoded:
            raise WebhookUnauthorized("missing webhook signature")
        age = self._clock().timestamp() - int(timestamp)
        if abs(age) > self._max_webhook_age.total_seconds():
            raise WebhookUnauthorized("stale webhook timestamp")
        signature = decode_base64url(encoded.strip())
        if signature is None or len(signature) != ED25519_SIGNATURE_BYTES:
            raise WebhookUnauthorized("malformed webhook signature")
        key = self._keys.key(kid)
        if key is None:
            logger.warning("webhook signed with an unknown key", provider=self.name, kid=kid[:64])
            raise WebhookUnauthorized("webhook signed with an unknown key")
        try:
            key.verify(signature, timestamp.encode() + b"." + body)
        except InvalidSignature as error:
            raise WebhookUnauthorized("bad webhook signature") from error

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        # No cancel call: neither atlascloud-seedance-2.0-image-to-video.txt nor the public predictions
        # page (atlascloud.ai/docs/en/predictions: submit, poll, result) names one.
        raise CancelRefused("atlascloud has no cancel call", unsupported=True)
