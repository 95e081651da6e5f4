"""EachLabs Predictions API (../shared/provider-docs/eachlabs-seedance-2.0.txt).

Create: POST /v1/prediction with X-API-Key, {model, version "0.0.1", input, webhook_url, webhook_secret}.
Webhook: {exec_id, status succeeded|failed, output, error}, signed when webhook_secret was sent:
X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "{X-Webhook-Timestamp}.{raw body}")>.
Status: GET /v1/prediction/{id} -> status processing|success|error, output (URL string).
Cancel: POST /v1/prediction/{id}/cancel -> {"status": "cancelled", ...}, best-effort: "not every provider
can interrupt work that is already running" (docs.eachlabs.ai/api-reference/ai-models-prediction/
cancel-model-prediction; the Seedance page in provider-docs does not name it).
Status words, in webhooks and status answers alike, are read with the shared tolerant vocabulary of
_status.py (Succeeded, in_progress, canceled, ...); an unknown word is logged and means still running.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

from videojobs.errors import CancelRefused, ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, ProviderReceipt, ProviderState, ProviderUpdate, WebhookTarget
from videojobs.ports import Clock
from videojobs.providers._http import ProviderApi, parse_webhook_body, parse_wire, without_nones
from videojobs.providers._status import StatusWords
from videojobs.security import hmac_sha256_hex

TEXT_TO_VIDEO = "bytedance-seedance-2-0-text-to-video-fast"
IMAGE_TO_VIDEO = "bytedance-seedance-2-0-image-to-video-fast"
MODEL_VERSION = "0.0.1"
SIGNATURE_HEADER = "x-webhook-signature"
TIMESTAMP_HEADER = "x-webhook-timestamp"
STATUS_WORDS = StatusWords.of("eachlabs", running=("starting",))


class _CreateResponse(BaseModel):
    # The document shows no create response; the live API answers {"predictionID": ...}.
    prediction_id: str = Field(validation_alias=AliasChoices("predictionID", "prediction_id", "id"))


class _Webhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    exec_id: str = Field(min_length=1)
    #: Any word: see _status.py.
    status: str | None = None
    output: str | None = None
    error: str | None = None


class _Prediction(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    status: str | None = None
    output: str | None = None
    message: str | None = None
    details: str | None = None


class _CancelAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: str | None = None
    message: str | None = None


#: Answers to a cancel that mean our request or key is wrong, not that the prediction cannot be stopped.
_NOT_REFUSALS = frozenset({401, 403})


def _input(request: JobRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "prompt": request.prompt,
        "image_url": request.first_frame_url,
        "end_image_url": request.last_frame_url,
        "resolution": request.resolution,
        "duration": str(request.duration) if request.duration is not None else None,
        "aspect_ratio": request.aspect_ratio,
        "generate_audio": request.generate_audio,
        "seed": str(request.seed) if request.seed is not None else None,
        "end_user_id": request.end_user_id,
    }
    return without_nones(fields)


class EachLabsProvider:
    name: Literal["eachlabs"] = "eachlabs"

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        api_key: SecretStr,
        clock: Clock,
        max_webhook_age: timedelta,
    ) -> None:
        self._api = ProviderApi(
            client, provider=self.name, base_url=base_url, auth_header="X-API-Key", credential=api_key
        )
        self._clock = clock
        self._max_webhook_age = max_webhook_age

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        body = {
            "model": IMAGE_TO_VIDEO if request.mode == "image_to_video" else TEXT_TO_VIDEO,
            "version": MODEL_VERSION,
            "input": _input(request),
            "webhook_url": webhook.url,
            "webhook_secret": webhook.signing_secret,
        }
        data = self._api.call("POST", "/v1/prediction", json=body)
        created = parse_wire(_CreateResponse, data, provider=self.name)
        return ProviderReceipt(provider_job_id=created.prediction_id)

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        self._verify_signature({k.lower(): v for k, v in headers.items()}, body, signing_secret)
        webhook = parse_webhook_body(_Webhook, body)
        job_id = webhook.exec_id
        state = STATUS_WORDS.state(webhook.status, source="webhook", provider_job_id=job_id)
        if state is ProviderState.SUCCEEDED:
            return ProviderUpdate(provider_job_id=job_id, state=state, output_url=webhook.output or None)
        if state is ProviderState.FAILED:
            return ProviderUpdate(provider_job_id=job_id, state=state, error_message=webhook.error or None)
        return ProviderUpdate(provider_job_id=job_id, state=state)

    def _verify_signature(self, headers: Mapping[str, str], body: bytes, secret: str) -> None:
        signature = headers.get(SIGNATURE_HEADER, "")
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        if not signature.startswith("sha256=") or not timestamp.isdigit():
            raise WebhookUnauthorized("missing webhook signature")
        age = self._clock().timestamp() - int(timestamp)
        if abs(age) > self._max_webhook_age.total_seconds():
            raise WebhookUnauthorized("stale webhook timestamp")
        expected = hmac_sha256_hex(secret, timestamp.encode() + b"." + body)
        if not hmac.compare_digest(expected, signature.removeprefix("sha256=")):
            raise WebhookUnauthorized("bad webhook signature")

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        data = self._api.call("GET", f"/v1/prediction/{quote(provider_job_id, safe='')}")
        prediction = parse_wire(_Prediction, data, provider=self.name)
        state = STATUS_WORDS.state(prediction.status, source="status", provider_job_id=provider_job_id)
        if state is ProviderState.SUCCEEDED:
            return ProviderUpdate(
                provider_job_id=provider_job_id, state=state, output_url=prediction.output or None
            )
        if state is ProviderState.FAILED:
            message = "; ".join(part for part in (prediction.message, prediction.details) if part)
            return ProviderUpdate(
                provider_job_id=provider_job_id, state=ProviderState.FAILED, error_message=message or None
            )
        return ProviderUpdate(provider_job_id=provider_job_id, state=ProviderState.PROCESSING)

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        try:
            data = self._api.call("POST", f"/v1/prediction/{quote(provider_job_id, safe='')}/cancel")
        except ProviderError as error:
            # The page documents only the success; any other 4xx (finished, unknown) is its no.
            status = error.status_code
            if (
                status is not None
                and 400 <= status < 500
                and not error.retryable
                and status not in _NOT_REFUSALS
            ):
                raise CancelRefused(f"eachlabs refused the cancel: {error}") from error
            raise
        answer = parse_wire(_CancelAnswer, data, provider=self.name)
        word = (answer.status or "").strip().lower()
        if word not in {"cancelled", "canceled"}:
            raise CancelRefused(
                f"eachlabs did not cancel prediction {provider_job_id}: {word or answer.message}"
            )
