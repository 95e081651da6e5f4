"""The public job model: what users send, what we store, and what we announce."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ProviderName = Literal["eachlabs", "atlascloud", "gateway", "jobs_api"]
PROVIDER_NAMES: tuple[ProviderName, ...] = ("eachlabs", "atlascloud", "gateway", "jobs_api")
Resolution = Literal["480p", "720p", "1080p", "4k"]
AspectRatio = Literal["auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"]
Tier = Literal["standard", "fast", "mini"]
#: The gateway's compat-layer modes (extra_body.operation).
Operation = Literal["reference_to_video", "edit_video", "extend_video", "first_last_frame"]
MediaKind = Literal["image", "video", "audio"]


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, url: str) -> S3Location | None:
        """``s3://bucket/key`` as a location; None for any other URL."""
        if not url.startswith("s3://"):
            return None
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return cls(bucket, key) if bucket and key else None


def _require_https_or_s3(url: str) -> str:
    if url.startswith("s3://"):
        if S3Location.parse(url) is None:
            raise ValueError("must be s3://bucket/key")
        return url
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "https" or not sep or not rest or rest.startswith("/"):
        raise ValueError("must be a public https:// URL or s3://bucket/key")
    return url


MediaUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_require_https_or_s3)]


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
    tier: Tier | None = Field(default=None, description="Model tier; omit for the provider's default")
    operation: Operation | None = Field(
        default=None, description="The gateway's compat mode; the inputs must be the ones it takes"
    )

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


class StoredFile(BaseModel):
    """An object we wrote to S3: the video, or the last frame next to it."""

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
    last_frame_url: str | None = None
    video: StoredFile | None = None
    last_frame: StoredFile | None = None
    cost_estimate_usd: float | None = None
    error: JobError | None = None
    transfer_error: str | None = None

    @classmethod
    def new(
        cls,
        request: JobRequest,
        *,
        now: datetime,
        retention: timedelta,
        cost_estimate_usd: float | None = None,
    ) -> Job:
        return cls(
            job_id=str(uuid.uuid4()),
            provider=request.provider,
            status=JobStatus.QUEUED,
            request=request,
            created_at=now,
            updated_at=now,
            expires_at=int((now + retention).timestamp()),
            cost_estimate_usd=cost_estimate_usd,
        )

    def view(self) -> JobView:
        return JobView.model_validate(self.model_dump(include=set(JobView.model_fields)))


class JobView(BaseModel):
    """What the API returns and what events carry. The provider's output URLs stay private."""

    job_id: str
    provider: ProviderName
    status: JobStatus
    provider_job_id: str | None
    video: StoredFile | None
    last_frame: StoredFile | None
    cost_estimate_usd: float | None
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
    last_frame_url: str | None = None
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
    last_frame_url: str | None = None


class StatusCheckRequest(BaseModel):
    """The status-check queue's message body: look at the job once, then schedule the next look."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    attempt: int = Field(default=1, ge=1)
    #: When a wait longer than SQS's 15-minute delay is split into hops, the hop that is due.
    due_at: datetime | None = None


def utc_now() -> datetime:
    return datetime.now(UTC)
