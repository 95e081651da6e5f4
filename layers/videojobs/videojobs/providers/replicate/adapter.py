"""Replicate's HTTP API for the official Seedance 2.0 models (docs/provider-dialects.md, "Replicate").

Create: POST /v1/models/bytedance/seedance-2.0[-fast]/predictions with a Bearer token,
{"input": {...}, "webhook": <url>, "webhook_events_filter": ["completed"]} -> the prediction object.
Status: GET /v1/predictions/{id}; cancel: POST /v1/predictions/{id}/cancel (both -> the prediction).
Prediction: {id, status starting|processing|succeeded|failed|canceled (and aborted), output: <URI>,
error, urls, ...}. Errors are problem details ({"title", "detail", "status"}; a 429 {"detail"}).
Webhook: the body is the prediction object, signed per Standard Webhooks (webhook-id,
webhook-timestamp, webhook-signature "v1,<base64>" entries) with the account's secret, which
GET /v1/webhooks/default/secret returns as {"key": "whsec_..."}: fetched when the first webhook needs it
and kept for the adapter's life (one per container). A signature that matches no cached secret refetches
it, at most once per SECRET_REFRESH_INTERVAL, in case it was changed (ours: Replicate documents no
rotation, but the signature list is built for one).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from videojobs.errors import CancelRefused, ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, ProviderReceipt, ProviderState, ProviderUpdate, WebhookTarget
from videojobs.observability import logger
from videojobs.ports import Clock
from videojobs.providers._http import ProviderApi, parse_webhook_body, parse_wire, without_nones
from videojobs.providers._status import StatusWords
from videojobs.standard_webhooks import (
    SignedDelivery,
    StandardWebhook,
    WebhookVerificationError,
    read_delivery,
)

STANDARD_MODEL = "bytedance/seedance-2.0"
FAST_MODEL = "bytedance/seedance-2.0-fast"
#: Only the terminal webhook: Replicate retries only that one, and intermediate ones change nothing here.
WEBHOOK_EVENTS = ("completed",)
#: The models' duration for "model picks the best length".
INTELLIGENT_DURATION = -1
#: Our "auto" aspect ratio in Replicate's words.
ADAPTIVE = "adaptive"
SECRET_PATH = "/v1/webhooks/default/secret"  # noqa: S105 - the endpoint's path, not a secret
#: How old a cached secret must be before a signature it does not match refetches it (ours).
SECRET_REFRESH_INTERVAL = timedelta(minutes=5)
#: "aborted": the prediction "exceeded its deadline before it could start running" (lifecycle page).
STATUS_WORDS = StatusWords.of("replicate", running=("starting",), failed=("aborted",))
_FINISHED = frozenset({ProviderState.SUCCEEDED, ProviderState.FAILED})


class _Prediction(BaseModel):
    """The prediction object, as create, get, cancel and the webhook all return it."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    #: Any word: see _status.py.
    status: str | None = None
    #: A URI string for these models; a list or a {"url"} object is read too.
    output: Any = None
    error: Any = None

    def output_url(self) -> str | None:
        output = self.output
        if isinstance(output, list):
            output = next((item for item in output if item), None)
        if isinstance(output, dict):
            output = output.get("url")
        return output if isinstance(output, str) and output else None


class _WebhookPrediction(_Prediction):
    id: str = Field(min_length=1)


class _Created(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)


class _Secret(BaseModel):
    model_config = ConfigDict(extra="ignore")

    key: str = Field(min_length=1)


def _model(request: JobRequest) -> str:
    return FAST_MODEL if request.tier == "fast" else STANDARD_MODEL


def _input(request: JobRequest) -> dict[str, Any]:
    aspect_ratio = ADAPTIVE if request.aspect_ratio == "auto" else request.aspect_ratio
    fields: dict[str, Any] = {
        "prompt": request.prompt,
        "image": request.first_frame_url,
        "last_frame_image": request.last_frame_url,
        "reference_images": request.reference_image_urls or None,
        "reference_videos": request.reference_video_urls or None,
        "reference_audios": request.reference_audio_urls or None,
        # Left out, the model would make 5 seconds: our "auto" is its intelligent duration.
        "duration": request.duration if request.duration is not None else INTELLIGENT_DURATION,
        "resolution": request.resolution,
        "aspect_ratio": aspect_ratio,
        "generate_audio": request.generate_audio,
        "seed": request.seed,
    }
    return without_nones(fields)


def _text(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("detail") or value.get("message") or value.get("title")
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
        message = _text(prediction.error) or f"replicate prediction {(prediction.status or '')[:32]}"
        return ProviderUpdate(provider_job_id=provider_job_id, state=state, error_message=message)
    return ProviderUpdate(provider_job_id=provider_job_id, state=state)


class _AccountSecret:
    """One account's webhook signing secret, fetched with one of its API keys when first needed."""

    def __init__(self, api: ProviderApi, *, clock: Clock, refresh_interval: timedelta) -> None:
        self._api = api
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._key: SecretStr | None = None
        self._secret: StandardWebhook | None = None
        self._fetched_at: datetime | None = None
        self._lock = threading.Lock()

    def current(self) -> StandardWebhook:
        """The cached secret, fetched if there is none. Raises ProviderError when the fetch fails."""
        with self._lock:
            if self._secret is None:
                self._fetch()
            assert self._secret is not None  # noqa: S101 - _fetch sets it or raises
            return self._secret

    def refreshed(self) -> StandardWebhook | None:
        """The secret fetched again, when the cached one is old enough to be refetched and the account's
        secret has changed since; else None."""
        with self._lock:
            if self._fetched_at is not None and self._clock() - self._fetched_at < self._refresh_interval:
                return None
            previous = self._key.get_secret_value() if self._key is not None else None
            self._fetch()
            assert self._key is not None  # noqa: S101 - _fetch sets it or raises
            return self._secret if self._key.get_secret_value() != previous else None

    def _fetch(self) -> None:
        data = self._api.call("GET", SECRET_PATH)
        self._fetched_at = self._clock()
        key = parse_wire(_Secret, data, provider="replicate").key
        try:
            secret = StandardWebhook(key)
        except ValueError as error:
            raise ProviderError(
                "replicate answered a webhook secret that is not whsec_<base64>", retryable=False
            ) from error
        self._key, self._secret = SecretStr(key), secret


class ReplicateProvider:
    name: Literal["replicate"] = "replicate"

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        api_key: SecretStr,
        clock: Clock,
        max_webhook_age: timedelta,
        pool: Sequence[SecretStr] = (),
        secret_refresh_interval: timedelta = SECRET_REFRESH_INTERVAL,
    ) -> None:
        self._api = ProviderApi.with_bearer_key(
            client, provider=self.name, base_url=base_url, api_key=api_key
        )
        self._clock = clock
        self._max_webhook_age = max_webhook_age
        # This key's account first; then the accounts of the pool's other keys, whose jobs' webhooks
        # reach this adapter too (a webhook is verified before its job, and so its key, is known).
        others = [key for key in pool if key.get_secret_value() != api_key.get_secret_value()]
        self._accounts = [self._account(self._api, secret_refresh_interval)] + [
            self._account(
                ProviderApi.with_bearer_key(client, provider=self.name, base_url=base_url, api_key=key),
                secret_refresh_interval,
            )
            for key in others
        ]

    def _account(self, api: ProviderApi, refresh_interval: timedelta) -> _AccountSecret:
        return _AccountSecret(api, clock=self._clock, refresh_interval=refresh_interval)

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        body = {
            "input": _input(request),
            "webhook": webhook.url,
            "webhook_events_filter": list(WEBHOOK_EVENTS),
        }
        data = self._api.call("POST", f"/v1/models/{_model(request)}/predictions", json=body)
        created = parse_wire(_Created, data, provider=self.name)
        return ProviderReceipt(provider_job_id=created.id)

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        # Replicate signs with the account's secret; the per-job signing_secret plays no part.
        self._verify(headers, body)
        prediction = parse_webhook_body(_WebhookPrediction, body)
        return _update(prediction, prediction.id, source="webhook")

    def _verify(self, headers: Mapping[str, str], body: bytes) -> None:
        try:
            delivery = read_delivery(
                headers,
                now=int(self._clock().timestamp()),
                tolerance_seconds=int(self._max_webhook_age.total_seconds()),
            )
        except WebhookVerificationError as error:
            # Refused before any secret is fetched: a stale or unsigned call costs no request.
            raise WebhookUnauthorized(str(error)) from error
        if not delivery.signatures:
            raise WebhookUnauthorized("no v1 webhook signature")
        if any(account.current().matches(delivery, body) for account in self._accounts):
            return
        if self._matches_a_refreshed_secret(delivery, body):
            return
        logger.warning("webhook signature matches no account secret", provider=self.name)
        raise WebhookUnauthorized("bad webhook signature")

    def _matches_a_refreshed_secret(self, delivery: SignedDelivery, body: bytes) -> bool:
        for account in self._accounts:
            secret = account.refreshed()
            if secret is not None and secret.matches(delivery, body):
                logger.info("replicate webhook secret changed; the new one is cached", provider=self.name)
                return True
        return False

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        # The documented path from our base URL; the prediction's own "urls" are not needed.
        data = self._api.call("GET", f"/v1/predictions/{quote(provider_job_id, safe='')}")
        prediction = parse_wire(_Prediction, data, provider=self.name)
        return _update(prediction, provider_job_id, source="status")

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        data = self._api.call("POST", f"/v1/predictions/{quote(provider_job_id, safe='')}/cancel")
        prediction = parse_wire(_Prediction, data, provider=self.name)
        word = (prediction.status or "").strip().lower()
        if word in {"canceled", "cancelled"}:
            return
        state = STATUS_WORDS.state(prediction.status, source="cancel", provider_job_id=provider_job_id)
        if state in _FINISHED:
            # A prediction that ended before the cancel keeps its status (succeeded, failed, aborted).
            raise CancelRefused(f"replicate prediction already {word or 'finished'}")
        # Still starting or processing: the cancel was taken, and the prediction's webhook will say so.
