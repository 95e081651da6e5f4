"""An OpenAI-style gateway's Seedance 2.0 video generations
(../shared/provider-docs/gateway-seedance-2.0-video-generations.txt and docs/provider-dialects.md).

Create: POST /v1/video/generations with a Bearer key, model seedance2.0[-fast|-mini]-{resolution},
media in image/last_image/images/videos/audios, switches in extra_body. Answers the task
{"id", "task_id", "status": "queued", ...}.
Status: GET /v1/videos/{task_id} -> status queued|processing|completed|failed (read with the
shared tolerant vocabulary of _status.py: in_progress, cancelled, ... too), video_url,
last_frame_url (when asked for), error {"message", "code"}.
No webhook of any kind: jobs on this dialect finish through status checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr

from videojobs.errors import CancelRefused, InvalidWebhook
from videojobs.models import JobRequest, ProviderReceipt, ProviderState, ProviderUpdate, Tier, WebhookTarget
from videojobs.providers._http import ProviderApi, parse_wire, without_nones
from videojobs.providers._status import StatusWords

MODEL_PREFIX = "seedance2.0"
STATUS_WORDS = StatusWords.of("gateway", running=("starting", "in_queue"))


class _CreatedTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_id: str = Field(min_length=1, validation_alias=AliasChoices("task_id", "id"))


class _TaskError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    message: str | None = None
    code: str | int | None = None


class _Task(BaseModel):
    model_config = ConfigDict(extra="ignore")

    #: Any word: a status we do not know must not fail the check (see _status.py).
    status: str | None = None
    video_url: str | None = None
    last_frame_url: str | None = None
    error: _TaskError | str | None = None

    def error_message(self) -> str | None:
        if isinstance(self.error, _TaskError):
            return self.error.message or (str(self.error.code) if self.error.code is not None else None)
        return self.error or None


def model_id(request: JobRequest, default_tier: Tier) -> str:
    """seedance2.0-720p (standard), seedance2.0-fast-480p, seedance2.0-mini-720p, ..."""
    tier = request.tier or default_tier
    if tier == "standard":
        return f"{MODEL_PREFIX}-{request.resolution}"
    return f"{MODEL_PREFIX}-{tier}-{request.resolution}"


def _body(request: JobRequest, default_tier: Tier) -> dict[str, Any]:
    extra_body: dict[str, Any] = {
        "generate_audio": request.generate_audio,
        "seed": request.seed,
        "watermark": request.watermark,
        "camera_fixed": request.camera_fixed,
        "return_last_frame": request.return_last_frame,
        "operation": request.operation,
    }
    fields: dict[str, Any] = {
        "model": model_id(request, default_tier),
        "prompt": request.prompt,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "image": request.first_frame_url,
        "last_image": request.last_frame_url,
        "images": request.reference_image_urls or None,
        "videos": request.reference_video_urls or None,
        "audios": request.reference_audio_urls or None,
        "extra_body": without_nones(extra_body),
    }
    return without_nones(fields)


class GatewayProvider:
    name: Literal["gateway"] = "gateway"

    def __init__(
        self, client: httpx.Client, *, base_url: str, api_key: SecretStr, default_tier: Tier
    ) -> None:
        self._api = ProviderApi.with_bearer_key(
            client, provider=self.name, base_url=base_url, api_key=api_key
        )
        #: The model tier of a request that names none (the unit's default).
        self._default_tier = default_tier

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        # The gateway has no callback: ``webhook`` goes unused and the job is followed by status checks.
        data = self._api.call("POST", "/v1/video/generations", json=_body(request, self._default_tier))
        return ProviderReceipt(provider_job_id=parse_wire(_CreatedTask, data, provider=self.name).task_id)

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        data = self._api.call("GET", f"/v1/videos/{quote(provider_job_id, safe='')}")
        task = parse_wire(_Task, data, provider=self.name)
        state = STATUS_WORDS.state(task.status, source="status", provider_job_id=provider_job_id)
        if state is ProviderState.SUCCEEDED:
            return ProviderUpdate(
                provider_job_id=provider_job_id,
                state=ProviderState.SUCCEEDED,
                output_url=task.video_url or None,
                last_frame_url=task.last_frame_url or None,
            )
        if state is ProviderState.FAILED:
            message = task.error_message()
            return ProviderUpdate(
                provider_job_id=provider_job_id, state=ProviderState.FAILED, error_message=message
            )
        return ProviderUpdate(provider_job_id=provider_job_id, state=ProviderState.PROCESSING)

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        raise InvalidWebhook("the gateway never calls back; its jobs are followed by status checks")

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        # gateway-seedance-2.0-video-generations.txt documents no cancel call.
        raise CancelRefused("gateway has no cancel call", unsupported=True)
