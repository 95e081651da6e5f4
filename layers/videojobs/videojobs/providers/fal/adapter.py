"""fal.ai's queue API for Seedance 2.0 (docs/provider-dialects.md, section fal.ai).

Submit: POST {base}/bytedance/seedance-2.0/[fast/]{text,image,reference}-to-video?fal_webhook=<url>
with ``Authorization: Key <key>`` and the model's input as the JSON body; answers {request_id,
gateway_request_id, status_url, response_url, cancel_url} (https://docs.fal.ai/model-endpoints/queue).
The three URLs are the receipt's links; status, result and cancel use them. A job adopted by its
webhook has none: the URLs are then built from the owner and app alone,
``{base}/bytedance/seedance-2.0/requests/{id}``, as fal-client's ``from_request_id`` does (the queue
page: the subpath "should be used when making the request, but not when getting request status or
results"). A link is followed only when it is under the base URL, so the key never goes elsewhere.

Status: GET status_url -> IN_QUEUE | IN_PROGRESS | COMPLETED; a COMPLETED carrying ``error`` failed.
Result: GET response_url -> {"video": {"url", ...}, "seed"}; a failed request answers an error status
with ``detail`` (and ``error_type``, https://docs.fal.ai/documentation/model-apis/request-errors).
Cancel: PUT cancel_url -> {"status": CANCELLATION_REQUESTED | ALREADY_COMPLETED | NOT_FOUND}
(https://fal.ai/docs/inference-api/queue/cancel).
Webhook: {request_id, gateway_request_id, status: OK | ERROR, payload, error[, payload_error]}, signed
(https://docs.fal.ai/model-apis/model-endpoints/webhooks): X-Fal-Webhook-Signature is the hex Ed25519
signature of "{request id}\\n{user id}\\n{timestamp}\\n{sha256 hex of the raw body}", the parts from
X-Fal-Webhook-Request-Id, -User-Id and -Timestamp. No key id is sent: every key of the JWKS is tried,
and the JWKS is fetched again (at most once a second) when none verifies.

The submit is never retried here (fal-client retries it, which can double a paid job): a lost answer,
and a 502 or 504 from fal's gateway, is an ambiguous create for the dispatcher.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote, urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from videojobs.errors import CancelRefused, InvalidWebhook, ProviderError, WebhookUnauthorized
from videojobs.models import JobRequest, Mode, ProviderReceipt, ProviderState, ProviderUpdate, WebhookTarget
from videojobs.observability import logger
from videojobs.ports import Clock
from videojobs.providers._http import (
    ProviderApi,
    answer_error,
    describe_validation_error,
    json_answer,
    parse_wire,
    without_nones,
)
from videojobs.providers._jwks import JwksKeys
from videojobs.providers._status import StatusWords

#: The owner and app: the submit adds the endpoint path, status/result/cancel use these alone.
APP = "bytedance/seedance-2.0"
TEXT_TO_VIDEO = "text-to-video"
IMAGE_TO_VIDEO = "image-to-video"
REFERENCE_TO_VIDEO = "reference-to-video"
LINK_NAMES = ("status_url", "response_url", "cancel_url")
REQUEST_ID_HEADER = "x-fal-webhook-request-id"
USER_ID_HEADER = "x-fal-webhook-user-id"
TIMESTAMP_HEADER = "x-fal-webhook-timestamp"
SIGNATURE_HEADER = "x-fal-webhook-signature"
ERROR_TYPE_HEADER = "x-fal-error-type"
#: A gateway in front of fal's queue answered for it: the submit may or may not have been queued (ours).
AMBIGUOUS_SUBMIT_STATUS = frozenset({502, 504})
STATUS_WORDS = StatusWords.of("fal", running=("in_queue",))
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
_MAX_MESSAGE_CHARS = 1000


class _Queued(BaseModel):
    """The submit's answer."""

    model_config = ConfigDict(extra="ignore")

    request_id: str = Field(min_length=1)
    gateway_request_id: str | None = None
    status_url: str | None = None
    response_url: str | None = None
    cancel_url: str | None = None


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")

    #: Any word: a status we do not know must not fail the job (see _status.py).
    status: str | None = None
    response_url: str | None = None
    error: Any = None
    error_type: str | None = None


class _File(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str | None = None


class _Output(BaseModel):
    """The model's output: the result a GET of response_url returns, a webhook's payload."""

    model_config = ConfigDict(extra="ignore")

    video: _File | None = None

    def video_url(self) -> str | None:
        return self.video.url if self.video is not None and self.video.url else None


class _Webhook(BaseModel):
    model_config = ConfigDict(extra="ignore")

    request_id: str = Field(min_length=1)
    gateway_request_id: str | None = None
    status: str | None = None
    payload: Any = None
    error: Any = None
    payload_error: Any = None


ENDPOINTS: dict[Mode, str] = {
    "text_to_video": TEXT_TO_VIDEO,
    "image_to_video": IMAGE_TO_VIDEO,
    "reference_to_video": REFERENCE_TO_VIDEO,
}


def _endpoint(request: JobRequest) -> str:
    endpoint = ENDPOINTS[request.mode]
    return f"{APP}/fast/{endpoint}" if request.tier == "fast" else f"{APP}/{endpoint}"


def _body(request: JobRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "prompt": request.prompt,
        "image_url": request.first_frame_url,
        "end_image_url": request.last_frame_url,
        "image_urls": request.reference_image_urls or None,
        "video_urls": request.reference_video_urls or None,
        "audio_urls": request.reference_audio_urls or None,
        "resolution": request.resolution,
        # A string: "auto" (fal's default, when we send none) or "4".."15".
        "duration": str(request.duration) if request.duration is not None else None,
        # Our "auto" is fal's word too.
        "aspect_ratio": request.aspect_ratio,
        "generate_audio": request.generate_audio,
        "seed": request.seed,
    }
    return without_nones(fields)


def _text(value: object) -> str | None:
    """An error as words: a string, fal's ``detail`` (a string or a list of {loc, msg, type}), or the
    message of an object."""
    if isinstance(value, dict):
        value = value.get("detail") or value.get("message") or value.get("error") or None
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict):
                location = ".".join(str(part) for part in item.get("loc") or [] if part != "body")
                message = str(item.get("msg") or item.get("type") or "")
                parts.append(f"{location}: {message}" if location else message)
            else:
                parts.append(str(item))
        value = "; ".join(part for part in parts if part)
    if value is None or value == "":
        return None
    return str(value)[:_MAX_MESSAGE_CHARS]


def _joined(*parts: str | None) -> str | None:
    text = ": ".join(part for part in parts if part)
    return text[:_MAX_MESSAGE_CHARS] or None


class FalProvider:
    name: Literal["fal"] = "fal"

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
        self._base_url = base_url.rstrip("/")
        credential = SecretStr(f"Key {api_key.get_secret_value()}")
        self._api = ProviderApi(
            client,
            provider=self.name,
            base_url=self._base_url,
            auth_header="Authorization",
            credential=credential,
        )
        self._clock = clock
        self._max_webhook_age = max_webhook_age
        self._keys = JwksKeys(client, jwks_url, provider=self.name, clock=clock)

    # --- create -------------------------------------------------------------------------------------

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        path = f"/{_endpoint(request)}?{urlencode({'fal_webhook': webhook.url})}"
        try:
            data = self._api.call("POST", path, json=_body(request))
        except ProviderError as error:
            if error.status_code in AMBIGUOUS_SUBMIT_STATUS and not error.ambiguous:
                # Never sent again blindly: the request may be in fal's queue already.
                raise ProviderError(
                    str(error), retryable=True, status_code=error.status_code, ambiguous=True
                ) from error
            raise
        queued = parse_wire(_Queued, data, provider=self.name)
        links = {name: url for name in LINK_NAMES if isinstance(url := getattr(queued, name), str) and url}
        return ProviderReceipt(provider_job_id=queued.request_id, links=links)

    # --- following a request ------------------------------------------------------------------------

    def _link(self, request_id: str, links: Mapping[str, str] | None, name: str) -> str:
        """The receipt's link ``name`` when it is under the base URL; else the URL built from the owner
        and app (a job adopted by its webhook has no links)."""
        built = f"{self._base_url}/{APP}/requests/{quote(request_id, safe='')}"
        fallback = {"status_url": f"{built}/status", "response_url": built, "cancel_url": f"{built}/cancel"}
        return self._own(links.get(name) if links else None, name) or fallback[name]

    def _own(self, url: str | None, name: str) -> str | None:
        if not url:
            return None
        if url.startswith(f"{self._base_url}/"):
            return url
        logger.warning("fal link outside the base URL ignored", provider=self.name, link=name, url=url[:200])
        return None

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        data = self._api.call_url("GET", self._link(provider_job_id, links, "status_url"))
        status = parse_wire(_Status, data, provider=self.name)
        state = STATUS_WORDS.state(status.status, source="status", provider_job_id=provider_job_id)
        if status.error:
            # "COMPLETED" with an error: the request failed.
            message = _joined(status.error_type, _text(status.error))
            return ProviderUpdate(
                provider_job_id=provider_job_id, state=ProviderState.FAILED, error_message=message
            )
        if state is ProviderState.FAILED:
            return ProviderUpdate(
                provider_job_id=provider_job_id, state=state, error_message=_joined(status.error_type)
            )
        if state is ProviderState.PROCESSING:
            return ProviderUpdate(provider_job_id=provider_job_id, state=state)
        response_url = self._link(provider_job_id, links, "response_url")
        if not (links and links.get("response_url")):
            response_url = self._own(status.response_url, "response_url") or response_url
        return self._result(provider_job_id, response_url)

    def _result(self, request_id: str, url: str) -> ProviderUpdate:
        response = self._api.send("GET", url)
        if response.is_success:
            output = parse_wire(_Output, json_answer(response, provider=self.name), provider=self.name)
            return ProviderUpdate(
                provider_job_id=request_id, state=ProviderState.SUCCEEDED, output_url=output.video_url()
            )
        body = _json_or_none(response)
        error_type = response.headers.get(ERROR_TYPE_HEADER) or (
            body.get("error_type") if isinstance(body, dict) else None
        )
        # The request's own failure: a model's validation error (422, a "detail" list), or a request
        # error fal names by type. Anything else (a 5xx of a gateway, 401, 404) is a failed read.
        if response.status_code == 422 or (error_type and isinstance(body, dict)):
            message = _joined(str(error_type) if error_type else None, _text(body))
            return ProviderUpdate(
                provider_job_id=request_id,
                state=ProviderState.FAILED,
                error_message=message or f"fal answered HTTP {response.status_code}",
            )
        raise answer_error(response, provider=self.name)

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        response = self._api.send("PUT", self._link(provider_job_id, links, "cancel_url"))
        body = _json_or_none(response)
        word = str(body.get("status") or "").upper() if isinstance(body, dict) else ""
        if word == "ALREADY_COMPLETED":
            raise CancelRefused("fal: the request has already completed")
        if word == "NOT_FOUND":
            raise CancelRefused("fal does not know the request")
        if response.is_success:
            # CANCELLATION_REQUESTED (or OK): a queued request is removed, a running one is signalled.
            logger.info(
                "fal cancel requested", provider=self.name, provider_job_id=provider_job_id, status=word
            )
            return
        raise answer_error(response, provider=self.name)

    # --- webhooks -----------------------------------------------------------------------------------

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        # fal signs with its own published keys; the per-job signing_secret plays no part.
        lowered = {key.lower(): value for key, value in headers.items()}
        signed_request_id = self._verify_signature(lowered, body)
        try:
            webhook = _Webhook.model_validate_json(body)
        except ValidationError as error:
            raise InvalidWebhook(describe_validation_error(error)) from error
        if signed_request_id not in (webhook.request_id, webhook.gateway_request_id):
            # The body is signed (its hash is in the message), so it is authentic either way (ours).
            logger.warning(
                "fal webhook header names another request than its body",
                provider=self.name,
                header_request_id=signed_request_id[:128],
                request_id=webhook.request_id[:128],
            )
        return _webhook_update(webhook)

    def _verify_signature(self, headers: Mapping[str, str], body: bytes) -> str:
        request_id = headers.get(REQUEST_ID_HEADER, "")
        user_id = headers.get(USER_ID_HEADER, "")
        timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
        signature_hex = headers.get(SIGNATURE_HEADER, "").strip()
        if not request_id or not user_id or not _UNIX_SECONDS.fullmatch(timestamp) or not signature_hex:
            raise WebhookUnauthorized("missing webhook signature")
        age = self._clock().timestamp() - int(timestamp)
        if abs(age) > self._max_webhook_age.total_seconds():
            raise WebhookUnauthorized("stale webhook timestamp")
        if not _HEX_SIGNATURE.fullmatch(signature_hex):
            raise WebhookUnauthorized("malformed webhook signature")
        signature = bytes.fromhex(signature_hex)
        message = "\n".join((request_id, user_id, timestamp, hashlib.sha256(body).hexdigest())).encode()
        keys = self._keys.keys()
        if _verifies(keys, signature, message):
            return request_id
        # A key fal rotated in since the last fetch, or a forgery: fetch the keys again to tell.
        if _verifies(self._keys.refreshed(since=keys), signature, message):
            return request_id
        raise WebhookUnauthorized("bad webhook signature")


def _verifies(keys: tuple[Ed25519PublicKey, ...], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _webhook_update(webhook: _Webhook) -> ProviderUpdate:
    request_id = webhook.request_id
    verdict = (webhook.status or "").strip().upper()
    if verdict == "ERROR":
        message = _joined(_text(webhook.error), _text(webhook.payload)) or "fal reported an error"
        return ProviderUpdate(provider_job_id=request_id, state=ProviderState.FAILED, error_message=message)
    if verdict != "OK":
        logger.warning(
            "unknown provider status word; read as still running",
            provider="fal",
            source="webhook",
            provider_job_id=request_id,
            status_word=(webhook.status or "")[:64] or None,
        )
        return ProviderUpdate(provider_job_id=request_id, state=ProviderState.PROCESSING)
    try:
        output = _Output.model_validate(webhook.payload) if isinstance(webhook.payload, dict) else None
    except ValidationError:
        output = None
    video_url = output.video_url() if output is not None else None
    if video_url is None:
        # OK but no video in the payload (fal sets payload null and payload_error when it could not
        # serialize it): the status checks read the result from response_url (ours).
        logger.warning(
            "fal webhook without a video; the status checks will read the result",
            provider="fal",
            provider_job_id=request_id,
            payload_error=_text(webhook.payload_error),
        )
        return ProviderUpdate(provider_job_id=request_id, state=ProviderState.PROCESSING)
    return ProviderUpdate(provider_job_id=request_id, state=ProviderState.SUCCEEDED, output_url=video_url)
