"""Atlas Cloud model API (../shared/provider-docs/atlascloud-seedance-2.0-image-to-video.txt and
docs/provider-dialects.md).

Create: POST /api/v1/model/generateVideo with a Bearer key, every parameter flat at the top level,
model text-to-video, image-to-video (a first frame) or reference-to-video (reference media, ours).
Answers {"code", "message", "data": {id, status, ...}}, or the bare {id, status}.
Status: GET /api/v1/model/prediction/{id} -> data.status processing|completed|succeeded|failed,
data.outputs[0], data.error.
Upload: POST /api/v1/model/uploadMedia, multipart part "file" -> data.download_url.
Webhook: the prediction object (bare or in "data"), signed with Ed25519 over "{timestamp}.{raw body}":
X-AtlasCloud-Webhook-Timestamp, -Key-Id and -Signature-Ed25519 (base64url); keys from the JWKS.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
from cryptography.exceptions import InvalidSignature
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from videojobs.errors import ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, ProviderReceipt, ProviderState, ProviderUpdate, WebhookTarget
from videojobs.observability import logger
from videojobs.ports import Clock, MediaFile
from videojobs.providers._http import RETRYABLE_STATUS, ProviderApi, parse_webhook_body, parse_wire
from videojobs.providers._jwks import JwksKeys, decode_base64url

TEXT_TO_VIDEO = "bytedance/seedance-2.0/text-to-video"
IMAGE_TO_VIDEO = "bytedance/seedance-2.0/image-to-video"
REFERENCE_TO_VIDEO = "bytedance/seedance-2.0/reference-to-video"
TIMESTAMP_HEADER = "x-atlascloud-webhook-timestamp"
KEY_ID_HEADER = "x-atlascloud-webhook-key-id"
SIGNATURE_HEADER = "x-atlascloud-webhook-signature-ed25519"
ED25519_SIGNATURE_BYTES = 64
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
    id: str = Field(min_length=1)
    status: Literal["processing", "completed", "succeeded", "failed"]
    outputs: list[str] | None = None
    error: str | None = None


class _Created(_Enveloped):
    # Only the id matters here: a status word we do not know must not fail a job that was created.
    id: str = Field(min_length=1)


class _Upload(_Enveloped):
    download_url: str = Field(min_length=1)


def _model(request: JobRequest) -> str:
    if request.first_frame_url is not None:
        return IMAGE_TO_VIDEO
    if request.reference_image_urls or request.reference_video_urls or request.reference_audio_urls:
        return REFERENCE_TO_VIDEO
    return TEXT_TO_VIDEO


def _body(request: JobRequest, webhook: WebhookTarget) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "model": _model(request),
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
    return {key: value for key, value in fields.items() if value is not None}


def _update(prediction: _Prediction, provider_job_id: str) -> ProviderUpdate:
    if prediction.status in ("completed", "succeeded"):
        outputs = prediction.outputs or []
        return ProviderUpdate(
            provider_job_id=provider_job_id,
            state=ProviderState.SUCCEEDED,
            output_url=outputs[0] if outputs else None,
        )
    if prediction.status == "failed":
        message = prediction.error or None
        return ProviderUpdate(
            provider_job_id=provider_job_id, state=ProviderState.FAILED, error_message=message
        )
    return ProviderUpdate(provider_job_id=provider_job_id, state=ProviderState.PROCESSING)


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

    def get_prediction(self, provider_job_id: str) -> ProviderUpdate:
        data = self._call("GET", f"/api/v1/model/prediction/{quote(provider_job_id, safe='')}")
        return _update(parse_wire(_Prediction, data, provider=self.name), provider_job_id)

    def upload_media(self, media: MediaFile) -> str:
        data = self._api.upload("/api/v1/model/uploadMedia", media)
        self._check_envelope(data)
        return parse_wire(_Upload, data, provider=self.name).download_url

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        # Atlas signs with its own published key; the per-job signing_secret plays no part.
        self._verify_signature({key.lower(): value for key, value in headers.items()}, body)
        prediction = parse_webhook_body(_Prediction, body)
        return _update(prediction, prediction.id)

    def _verify_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        kid = headers.get(KEY_ID_HEADER, "")
        encoded = headers.get(SIGNATURE_HEADER, "")
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
