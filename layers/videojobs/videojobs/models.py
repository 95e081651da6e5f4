"""The public job model: what users send, what we store, and what we announce."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ProviderName = Literal["eachlabs", "atlascloud", "gateway", "jobs_api"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("eachlabs", "atlascloud", "gateway", "jobs_api")
Resolution = Literal["480p", "720p", "1080p", "4k"]
AspectRatio = Literal["auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"]


def _require_https(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "https" or not sep or not rest or rest.startswith("/"):
        raise ValueError("must be a public https:// URL")
    return url


MediaUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_require_https)]


class JobRequest(BaseModel):
    """A Seedance 2.0 job as users submit it. Field names are a public contract."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: ProviderName
    prompt: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]
    first_frame_url: MediaUrl | None = None
    last_frame_url: MediaUrl | None = None
    reference_image_urls: list[MediaUrl] = Field(default_factory=list, max_length=9)
    reference_video_urls: list[MediaUrl] = Field(default_factory=list, max_length=3)
    reference_audio_urls: list[MediaUrl] = Field(default_factory=list, max_length=3)
    resolution: Resolution = "720p"
    duration: int | None = Field(
        default=None, ge=4, le=15, description="Seconds; omit for the provider's auto"
    )
    aspect_ratio: AspectRatio | None = None
    generate_audio: bool = True
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    watermark: bool | None = None
    camera_fixed: bool | None = None
    return_last_frame: bool | None = None
    end_user_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None

    @property
    def is_image_to_video(self) -> bool:
        return self.first_frame_url is not None


class JobStatus(StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    TRANSFERRING = "transferring"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


#: Statuses from which a provider's verdict (finished or failed) may still be applied.
AWAITING_PROVIDER = frozenset({JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.PROCESSING})
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.EXPIRED})


class JobError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str


class VideoObject(BaseModel):
    model_config = ConfigDict(frozen=True)

    bucket: str
    key: str
    size_bytes: int
    sha256: str
    content_type: str


class Job(BaseModel):
    """A job as stored: the state machine only moves forward (see ``JobStore.transition``)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    provider: ProviderName
    status: JobStatus
    request: JobRequest
    created_at: datetime
    updated_at: datetime
    expires_at: int
    provider_job_id: str | None = None
    output_url: str | None = None
    video: VideoObject | None = None
    error: JobError | None = None
    transfer_error: str | None = None

    @classmethod
    def new(cls, request: JobRequest, *, now: datetime, retention: timedelta) -> Job:
        return cls(
            job_id=str(uuid.uuid4()),
            provider=request.provider,
            status=JobStatus.QUEUED,
            request=request,
            created_at=now,
            updated_at=now,
            expires_at=int((now + retention).timestamp()),
        )

    def view(self) -> JobView:
        return JobView.model_validate(self.model_dump(include=set(JobView.model_fields)))


class JobView(BaseModel):
    """What the API returns and what events carry. The provider's output URL stays private."""

    job_id: str
    provider: ProviderName
    status: JobStatus
    provider_job_id: str | None
    video: VideoObject | None
    error: JobError | None
    created_at: datetime
    updated_at: datetime
    request: JobRequest


class ProviderState(StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProviderUpdate(BaseModel):
    """A provider's word on a prediction, from a webhook or a status check, in our terms."""

    model_config = ConfigDict(frozen=True)

    provider_job_id: str
    state: ProviderState
    output_url: str | None = None
    error_message: str | None = None


class ProviderReceipt(BaseModel):
    model_config = ConfigDict(frozen=True)

    provider_job_id: str


class WebhookTarget(BaseModel):
    """Where a provider must call back, and the per-job secret it signs with where it can."""

    model_config = ConfigDict(frozen=True)

    url: str
    signing_secret: str


class TransferRequest(BaseModel):
    """The transfer queue's message body."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    source_url: str


def utc_now() -> datetime:
    return datetime.now(UTC)
