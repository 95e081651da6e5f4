"""A generic jobs API serving seedance-2.0/text-to-video
(../shared/provider-docs/jobs-api-seedance-2.0-text-to-video.txt and docs/provider-dialects.md).

Create: POST /v1/jobs with a Bearer key, {"model": "seedance-2.0/text-to-video", "input": {...}}
(the document's own example sends frames to this model, so it serves every job). Answers the job
{"id", "object": "job", "status", ...}.
Status: GET /v1/jobs/{id} -> the job plus output {task_id, status, videos: [{url, content_type}]}
and error null|{code, message}; status queued|processing|succeeded|failed.
Callback: POSTed to input.callback_url with the status object as body, unsigned.
Upload: POST /v1/files/upload, multipart parts kind, purpose=reference, file -> {"id", "url", ...}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from videojobs.models import JobRequest, ProviderReceipt, ProviderState, ProviderUpdate, WebhookTarget
from videojobs.ports import MediaFile
from videojobs.providers._http import ProviderApi, parse_webhook_body, parse_wire

MODEL = "seedance-2.0/text-to-video"
UPLOAD_PURPOSE = "reference"


class _Created(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)


class _Video(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str


class _Output(BaseModel):
    model_config = ConfigDict(extra="ignore")

    videos: list[_Video | str] = Field(default_factory=list)


class _Error(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str | int | None = None
    message: str | None = None

    def text(self) -> str | None:
        return self.message or (str(self.code) if self.code is not None else None)


class _Job(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    status: Literal["queued", "processing", "succeeded", "completed", "success", "failed"]
    output: _Output | None = None
    error: _Error | None = None

    def update(self, provider_job_id: str | None = None) -> ProviderUpdate:
        job_id = provider_job_id or self.id
        if self.status in ("succeeded", "completed", "success"):
            videos = self.output.videos if self.output is not None else []
            first = videos[0] if videos else None
            url = first.url if isinstance(first, _Video) else first
            state = ProviderState.SUCCEEDED
            return ProviderUpdate(provider_job_id=job_id, state=state, output_url=url or None)
        if self.status == "failed":
            message = self.error.text() if self.error is not None else None
            return ProviderUpdate(provider_job_id=job_id, state=ProviderState.FAILED, error_message=message)
        return ProviderUpdate(provider_job_id=job_id, state=ProviderState.PROCESSING)


class _Uploaded(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(min_length=1)


def _input(request: JobRequest, webhook: WebhookTarget) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "prompt": request.prompt,
        "first_frame_url": request.first_frame_url,
        "last_frame_url": request.last_frame_url,
        "reference_image_urls": request.reference_image_urls or None,
        "reference_video_urls": request.reference_video_urls or None,
        "resolution": request.resolution,
        "duration": request.duration,
        "aspect_ratio": request.aspect_ratio,
        "seed": request.seed,
        "callback_url": webhook.url,
    }
    return {key: value for key, value in fields.items() if value is not None}


class JobsApiProvider:
    name: Literal["jobs_api"] = "jobs_api"

    def __init__(self, client: httpx.Client, *, base_url: str, api_key: SecretStr) -> None:
        self._api = ProviderApi.with_bearer_key(
            client, provider=self.name, base_url=base_url, api_key=api_key
        )

    def create_prediction(self, request: JobRequest, webhook: WebhookTarget) -> ProviderReceipt:
        # The callback is unsigned, so webhook.signing_secret has nowhere to go.
        data = self._api.call("POST", "/v1/jobs", json={"model": MODEL, "input": _input(request, webhook)})
        return ProviderReceipt(provider_job_id=parse_wire(_Created, data, provider=self.name).id)

    def get_prediction(self, provider_job_id: str) -> ProviderUpdate:
        data = self._api.call("GET", f"/v1/jobs/{quote(provider_job_id, safe='')}")
        return parse_wire(_Job, data, provider=self.name).update(provider_job_id)

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        # Unsigned: the callback logic trusts only the URL token and confirms with get_prediction.
        return parse_webhook_body(_Job, body).update()

    def upload_media(self, media: MediaFile) -> str:
        data = self._api.upload(
            "/v1/files/upload", media, fields={"kind": media.kind, "purpose": UPLOAD_PURPOSE}
        )
        return parse_wire(_Uploaded, data, provider=self.name).url
