"""BytePlus ModelArk video generation (docs.byteplus.com/en/docs/ModelArk/1520757 and
docs/provider-dialects.md).

Create: POST {base}/contents/generations/tasks with a Bearer key, {model, content[], callback_url,
generate_audio, resolution, ratio, duration, seed, watermark, return_last_frame,
execution_expires_after}; content items {type: text, text}, {type: image_url, image_url: {url}, role:
first_frame|last_frame|reference_image}, {type: video_url, video_url: {url}, role: reference_video},
{type: audio_url, audio_url: {url}, role: reference_audio}. Answers {"id": "cgt-…"}.
Status: GET {base}/contents/generations/tasks/{id} -> the task: status queued|running|succeeded|failed|
cancelled|expired (read with the shared tolerant vocabulary of _status.py), content.video_url,
content.last_frame_url (when return_last_frame was asked), error {code, message}.
Callback: POSTed to callback_url on every status change with the task object as body, unsigned, so only
a hint: the callback logic trusts only the URL token and takes the state from one status GET.
Cancel: DELETE {base}/contents/generations/tasks/{id} cancels a queued task; a running (or cancelled) one is
refused, and for a finished one it deletes the record, so the adapter looks first and deletes only a
queued task.
Errors: {"error": {"code", "message", "param", "type"}} (docs.byteplus.com/en/docs/ModelArk/1298460).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from videojobs.errors import CancelRefused, InvalidWebhook, ProviderError
from videojobs.models import (
    JobRequest,
    ProviderReceipt,
    ProviderState,
    ProviderUpdate,
    Tier,
    WebhookTarget,
)
from videojobs.observability import logger
from videojobs.providers._http import (
    RETRYABLE_STATUS,
    ProviderApi,
    describe_validation_error,
    parse_wire,
    retry_after_seconds,
    without_nones,
)
from videojobs.providers._status import StatusWords, normalized

TASKS_PATH = "/contents/generations/tasks"
#: duration -1: "the model picks" (1520757, "duration"): our duration None.
AUTO_DURATION = -1
#: ratio "adaptive" is ModelArk's word for our "auto".
ADAPTIVE_RATIO = "adaptive"
STATUS_WORDS = StatusWords.of("byteplus")
#: A DELETE answered with a 4xx other than these is ModelArk refusing the cancel (the task is running or
#: cancelled already). Ours: 1520757 does not say which status a refused DELETE has.
_NOT_REFUSALS = frozenset({401, 403, 408, 429})


class _Created(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)


class _Content(BaseModel):
    model_config = ConfigDict(extra="ignore")

    video_url: str | None = None
    last_frame_url: str | None = None


class _Error(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str | int | None = None
    message: str | None = None

    def text(self) -> str | None:
        if self.message and self.code is not None:
            return f"{self.message} ({self.code})"
        return self.message or (str(self.code) if self.code is not None else None)


class _Task(BaseModel):
    """The task object of status answers and callbacks (the id is the one we asked for when polling)."""

    model_config = ConfigDict(extra="ignore")

    #: Any word: see _status.py.
    status: str | None = None
    content: _Content | None = None
    error: _Error | None = None

    def update(self, task_id: str, *, source: str) -> ProviderUpdate:
        state = STATUS_WORDS.state(self.status, source=source, provider_job_id=task_id)
        if state is ProviderState.SUCCEEDED:
            content = self.content or _Content()
            return ProviderUpdate(
                provider_job_id=task_id,
                state=state,
                output_url=content.video_url or None,
                last_frame_url=content.last_frame_url or None,
            )
        if state is ProviderState.FAILED:
            message = self.error.text() if self.error is not None else None
            if message is None and isinstance(self.status, str):
                message = f"task {normalized(self.status)}"
            return ProviderUpdate(provider_job_id=task_id, state=state, error_message=message)
        return ProviderUpdate(provider_job_id=task_id, state=state)


def _media(kind: Literal["image_url", "video_url", "audio_url"], url: str, role: str) -> dict[str, Any]:
    return {"type": kind, kind: {"url": url}, "role": role}


def _content(request: JobRequest) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
    if request.first_frame_url is not None:
        items.append(_media("image_url", request.first_frame_url, "first_frame"))
    if request.last_frame_url is not None:
        items.append(_media("image_url", request.last_frame_url, "last_frame"))
    items += [_media("image_url", url, "reference_image") for url in request.reference_image_urls]
    items += [_media("video_url", url, "reference_video") for url in request.reference_video_urls]
    items += [_media("audio_url", url, "reference_audio") for url in request.reference_audio_urls]
    return items


class BytePlusProvider:
    name: Literal["byteplus"] = "byteplus"

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        api_key: SecretStr,
        models: Mapping[Tier, str],
        default_tier: Tier,
        execution_expires_after: int | None = None,
    ) -> None:
        self._api = ProviderApi.with_bearer_key(
            client, provider=self.name, base_url=base_url, api_key=api_key
        )
        self._client = client
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._models = dict(models)
        #: The model tier of a request that names none (the unit's default).
        self._default_tier = default_tier
        self._execution_expires_after = execution_expires_after

    def _body(self, request: JobRequest, webhook: WebhookTarget) -> dict[str, Any]:
        ratio = ADAPTIVE_RATIO if request.aspect_ratio == "auto" else request.aspect_ratio
        fields: dict[str, Any] = {
            "model": self._models[request.tier or self._default_tier],
            "content": _content(request),
            # Unsigned: webhook.signing_secret has nowhere to go; the URL's token authenticates it.
            "callback_url": webhook.url,
            "generate_audio": request.generate_audio,
            "resolution": request.resolution,
            "ratio": ratio,
            "duration": request.duration if request.duration is not None else AUTO_DURATION,
            "seed": request.seed,
            "watermark": request.watermark,
            "return_last_frame": request.return_last_frame,
            "execution_expires_after": self._execution_expires_after,
        }
        return without_nones(fields)

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        data = self._api.call("POST", TASKS_PATH, json=self._body(request, webhook))
        return ProviderReceipt(provider_job_id=parse_wire(_Created, data, provider=self.name).id)

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        data = self._api.call("GET", _task_path(provider_job_id))
        return parse_wire(_Task, data, provider=self.name).update(provider_job_id, source="status")

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        """Unsigned, so only a hint: the callback logic trusts only the URL token and takes the state
        from get_prediction. All that must be read here is which task the callback is about."""
        try:
            document = json.loads(body)
        except ValueError as error:
            raise InvalidWebhook("callback body is not JSON") from error
        if not isinstance(document, dict):
            raise InvalidWebhook("callback body is not a JSON object")
        task_id = document.get("id")
        if not isinstance(task_id, str) or not task_id.strip():
            raise InvalidWebhook("callback names no task (id)")
        task_id = task_id.strip()
        try:
            task = _Task.model_validate(document)
        except ValidationError as error:
            # The status GET decides anyway: an odd body is no reason to refuse the hint.
            logger.info(
                "callback body of an unexpected shape; the status check decides",
                provider=self.name,
                provider_job_id=task_id,
                problem=describe_validation_error(error),
            )
            return ProviderUpdate(provider_job_id=task_id, state=ProviderState.PROCESSING)
        return task.update(task_id, source="webhook")

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        """DELETE cancels a queued task only; on a finished task it would delete the record (and its
        output with it), so the task is read first and only a queued one is deleted."""
        data = self._api.call("GET", _task_path(provider_job_id))
        status = parse_wire(_Task, data, provider=self.name).status
        word = normalized(status) if isinstance(status, str) else None
        if word != "queued":
            raise CancelRefused(f"byteplus cancels only queued tasks; task {provider_job_id} is {word}")
        self._delete(_task_path(provider_job_id))

    def _delete(self, path: str) -> None:
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"}
        try:
            response = self._client.request("DELETE", f"{self._base_url}{path}", headers=headers)
        except httpx.HTTPError as error:
            # A repeated DELETE of a queued task changes nothing more: never ambiguous.
            raise ProviderError(f"byteplus unreachable: {type(error).__name__}", retryable=True) from error
        if response.is_success:
            return
        message = _error_text(response)
        status = response.status_code
        if 400 <= status < 500 and status not in _NOT_REFUSALS:
            raise CancelRefused(f"byteplus refused the cancel (HTTP {status}): {message}")
        raise ProviderError(
            f"byteplus answered HTTP {status}: {message}",
            retryable=status in RETRYABLE_STATUS,
            status_code=status,
            retry_after_seconds=retry_after_seconds(response),
        )


def _task_path(task_id: str) -> str:
    return f"{TASKS_PATH}/{quote(task_id, safe='')}"


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        try:
            return (_Error.model_validate(error).text() or "")[:300]
        except ValidationError:
            pass
    return str(body)[:300]
