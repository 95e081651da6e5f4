"""A generic jobs API serving seedance-2.0/text-to-video
(../shared/provider-docs/jobs-api-seedance-2.0-text-to-video.txt and docs/provider-dialects.md).

Create: POST /v1/jobs with a Bearer key, {"model": "seedance-2.0/text-to-video", "input": {...}}
(the document's own example sends frames to this model, so it serves every job). Answers the job
{"id", "object": "job", "status", ...}.
Status: GET /v1/jobs/{id} -> the job plus output {task_id, status, videos: [{url, content_type}]}
and error null|{code, message}; status queued|processing|succeeded|failed, read with the shared
tolerant vocabulary of _status.py (an unknown word is logged and means still running).
Callback: POSTed to input.callback_url with the status object as body, unsigned, so only a hint: the
job id is read leniently (id, job_id or task_id, at the top or inside data/job, else output.task_id)
and the callback logic takes the state from one status GET.
Upload: POST /v1/files/upload, multipart parts kind, purpose=reference, file -> {"id", "url", ...}.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from videojobs.errors import CancelRefused, InvalidWebhook
from videojobs.models import JobRequest, ProviderReceipt, ProviderState, ProviderUpdate, WebhookTarget
from videojobs.observability import logger
from videojobs.ports import MediaFile
from videojobs.providers._http import ProviderApi, describe_validation_error, parse_wire, without_nones
from videojobs.providers._status import StatusWords

MODEL = "seedance-2.0/text-to-video"
UPLOAD_PURPOSE = "reference"
STATUS_WORDS = StatusWords.of("jobs_api", running=("starting",))
#: Where a callback may name its job, best first (ours: the document shows no callback body, and
#: calls the id it polls with both "id" and "task_id").
_ID_FIELDS = ("id", "job_id", "task_id")
_WRAPPERS = ("data", "job")


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
    """The job object of status answers (the id is the one we asked for, so it is not required)."""

    model_config = ConfigDict(extra="ignore")

    #: Any word: see _status.py.
    status: str | None = None
    output: _Output | None = None
    error: _Error | None = None

    def update(self, job_id: str, *, source: str) -> ProviderUpdate:
        state = STATUS_WORDS.state(self.status, source=source, provider_job_id=job_id)
        if state is ProviderState.SUCCEEDED:
            videos = self.output.videos if self.output is not None else []
            first = videos[0] if videos else None
            url = first.url if isinstance(first, _Video) else first
            return ProviderUpdate(provider_job_id=job_id, state=state, output_url=url or None)
        if state is ProviderState.FAILED:
            message = self.error.text() if self.error is not None else None
            return ProviderUpdate(provider_job_id=job_id, state=state, error_message=message)
        return ProviderUpdate(provider_job_id=job_id, state=state)


def _id_in(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _callback_job(document: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(the job id a callback names, the object that carries it), read as leniently as we can."""
    for holder in (document, *(document.get(name) for name in _WRAPPERS)):
        if not isinstance(holder, dict):
            continue
        for name in _ID_FIELDS:
            job_id = _id_in(holder.get(name))
            if job_id is not None:
                return job_id, holder
    output = document.get("output")
    if isinstance(output, dict):
        return _id_in(output.get("task_id")), document
    return None, document


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
    return without_nones(fields)


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

    def get_prediction(
        self, provider_job_id: str, *, links: Mapping[str, str] | None = None
    ) -> ProviderUpdate:
        data = self._api.call("GET", f"/v1/jobs/{quote(provider_job_id, safe='')}")
        return parse_wire(_Job, data, provider=self.name).update(provider_job_id, source="status")

    def parse_webhook(
        self, headers: Mapping[str, str], body: bytes, *, signing_secret: str
    ) -> ProviderUpdate:
        """Unsigned, so only a hint: the callback logic trusts only the URL token and takes the state
        from get_prediction. All that must be read here is which job the callback is about."""
        try:
            document = json.loads(body)
        except ValueError as error:
            raise InvalidWebhook("callback body is not JSON") from error
        if not isinstance(document, dict):
            raise InvalidWebhook("callback body is not a JSON object")
        job_id, holder = _callback_job(document)
        if job_id is None:
            raise InvalidWebhook("callback names no job (id, job_id or task_id)")
        try:
            job = _Job.model_validate(holder)
        except ValidationError as error:
            # The status GET decides anyway: an odd body is no reason to refuse the hint.
            logger.info(
                "callback body of an unexpected shape; the status check decides",
                provider=self.name,
                provider_job_id=job_id,
                problem=describe_validation_error(error),
            )
            return ProviderUpdate(provider_job_id=job_id, state=ProviderState.PROCESSING)
        return job.update(job_id, source="webhook")

    def upload_media(self, media: MediaFile) -> str:
        data = self._api.upload(
            "/v1/files/upload", media, fields={"kind": media.kind, "purpose": UPLOAD_PURPOSE}
        )
        return parse_wire(_Uploaded, data, provider=self.name).url

    def cancel(self, provider_job_id: str, *, links: Mapping[str, str] | None = None) -> None:
        # jobs-api-seedance-2.0-text-to-video.txt documents no cancel call.
        raise CancelRefused("jobs_api has no cancel call", unsupported=True)
