"""The public job model: what users send, what we store, and what we announce."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

#: One name per unit in videojobs.providers.UNITS, in the same order (a test holds them equal).
ProviderName = Literal["eachlabs", "atlascloud", "gateway", "jobs_api", "fal", "replicate", "byteplus"]
#: A provider's name as requests and events carry it: validated against ProviderName, published as a
#: plain name, so that a new provider changes no published event schema (the API's request schema names
#: each provider in its capability rules).
Provider = Annotated[
    ProviderName,
    WithJsonSchema({"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": "A provider's name"}),
]
#: ``provider: "auto"``: the pipeline picks among the enabled providers that serve the request.
AUTO: Literal["auto"] = "auto"
#: What a request's ``provider`` may be: a provider's name, or "auto" (one Literal, so that a wrong name
#: is one error, at ``provider``).
ProviderChoice = Annotated[
    Literal[ProviderName, "auto"],
    WithJsonSchema(
        {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "description": 'A provider\'s name, or "auto"'}
    ),
]
Resolution = Literal["480p", "720p", "1080p", "4k"]
AspectRatio = Literal["auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"]
Tier = Literal["standard", "fast", "mini"]
#: The gateway's compat-layer modes (extra_body.operation).
Operation = Literal["reference_to_video", "edit_video", "extend_video", "first_last_frame"]
MediaKind = Literal["image", "video", "audio"]
#: What a job's video is made from; providers with an endpoint or model per mode choose by it.
Mode = Literal["text_to_video", "image_to_video", "reference_to_video"]


#: The media types an input file (a media URL's object, an upload) may have: Seedance 2.0's images
#: (JPEG, PNG, WebP), videos (MP4, MOV) and audio (MP3, WAV). One list for the doors, uploads and schemas.
InputMediaType = Literal[
    "image/png", "image/jpeg", "image/webp", "video/mp4", "video/quicktime", "audio/mpeg", "audio/wav"
]


@dataclass(frozen=True)
class MediaFormat:
    """What a media type is used as, and its file name endings (the first is the one an upload gets)."""

    kind: MediaKind
    extensions: tuple[str, ...]


#: Every InputMediaType (a test holds them equal), in the same order.
INPUT_MEDIA_TYPES: dict[InputMediaType, MediaFormat] = {
    "image/png": MediaFormat("image", (".png",)),
    "image/jpeg": MediaFormat("image", (".jpg", ".jpeg")),
    "image/webp": MediaFormat("image", (".webp",)),
    "video/mp4": MediaFormat("video", (".mp4",)),
    "video/quicktime": MediaFormat("video", (".mov",)),
    "audio/mpeg": MediaFormat("audio", (".mp3",)),
    "audio/wav": MediaFormat("audio", (".wav",)),
}


def media_extensions(kind: MediaKind) -> tuple[str, ...]:
    """The file name endings of every input media type of ``kind``."""
    return tuple(
        ending for media in INPUT_MEDIA_TYPES.values() if media.kind == kind for ending in media.extensions
    )


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


#: C0 and C1 control characters (DEL among them): in no URL, and in a prompt only tab and newline.
_CONTROL = "\x00-\x1f\x7f-\x9f"
_PROMPT_CONTROL = "\x00-\x08\x0b-\x1f\x7f-\x9f"
#: Whitespace (str.isspace) that is not a control character.
_SPACE = "\x20\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Characters that show nothing: every format character (Unicode category Cf) and Unicode's other
#: default-ignorable code points (Hangul fillers, variation selectors, ...). A test holds it to Cf.
_INVISIBLE = (
    "\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u115f-\u1160\u17b4-\u17b5"
    "\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff"
)
#: What no URL may hold.
_NOT_IN_URLS = _CONTROL + _SPACE
_URL_CHARACTER_PROBLEM = re.compile(f"[{_NOT_IN_URLS}]")
_PROMPT_CONTROL_CHARACTER = re.compile(f"[{_PROMPT_CONTROL}]")
_VISIBLE_CHARACTER = re.compile(f"[^{_CONTROL}{_SPACE}{_INVISIBLE}]")


def _url_characters(url: str) -> None:
    if _URL_CHARACTER_PROBLEM.search(url):
        raise ValueError("must not contain whitespace or control characters")


def _require_https_or_s3(url: str) -> str:
    _url_characters(url)
    if url.startswith("s3://"):
        if S3Location.parse(url) is None:
            raise ValueError("must be s3://bucket/key")
        return url
    scheme, sep, rest = url.partition("://")
    if scheme.lower() != "https" or not sep or not rest or rest.startswith("/"):
        raise ValueError("must be a public https:// URL or s3://bucket/key")
    return url


#: The end of the text, in JSON Schema's regular expressions and Python's alike (Python's ``$`` also
#: matches before a final newline, and schema tools written in Python would then make one).
_END = r"(?![\s\S])"
#: The published patterns say what the validators above check; a test holds them to it.
MEDIA_URL_PATTERN = (
    rf"^(?:[Hh][Tt][Tt][Pp][Ss]://[^/{_NOT_IN_URLS}]|s3://[^/{_NOT_IN_URLS}]+/[^{_NOT_IN_URLS}])"
    rf"[^{_NOT_IN_URLS}]*{_END}"
)
NOTIFY_URL_PATTERN = rf"^[Hh][Tt][Tt][Pp][Ss]?://[^/{_NOT_IN_URLS}][^{_NOT_IN_URLS}]*{_END}"

MediaUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(_require_https_or_s3),
    WithJsonSchema({"type": "string", "maxLength": 2048, "pattern": MEDIA_URL_PATTERN}),
]


def _require_http_url(url: str) -> str:
    _url_characters(url)
    scheme, sep, rest = url.partition("://")
    if scheme.lower() not in ("https", "http") or not sep or not rest or rest.startswith("/"):
        raise ValueError("must be an https:// URL")
    return url


#: Where to POST the outcome; the intake also refuses private addresses and plain http outside local mode.
NotifyUrl = Annotated[
    str,
    StringConstraints(max_length=2048),
    AfterValidator(_require_http_url),
    # Like a private address, plain http is refused by the intake outside local mode: deployment, not shape.
    WithJsonSchema({"type": "string", "maxLength": 2048, "pattern": NOTIFY_URL_PATTERN}),
]
#: Tab, newline and the other whitespace and invisible characters a prompt may hold, but not only them.
_BLANK = f"\t\n{_SPACE}{_INVISIBLE}"
#: No control character but tab and newline, and at least one visible character.
PROMPT_PATTERN = f"^[{_BLANK}]*[^{_PROMPT_CONTROL}{_BLANK}][^{_PROMPT_CONTROL}]*{_END}"


def _clean_prompt(text: str) -> str:
    if _PROMPT_CONTROL_CHARACTER.search(text):
        raise ValueError("must not contain control characters other than tab and newline")
    stripped = text.strip()
    if not _VISIBLE_CHARACTER.search(stripped):
        raise ValueError(
            "must hold a visible character, not only whitespace, zero-width or format characters"
        )
    return stripped


def _integral(value: Any) -> Any:
    """A JSON number with no fractional part (5.0) is an integer, as JSON Schema says."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# Integers: never a string or a boolean, as the request model is strict. The bounds go before the
# validator: after it, pydantic would publish them as ``ge``/``le``, which JSON Schema does not know.
DurationSeconds = Annotated[int, Field(ge=4, le=15), BeforeValidator(_integral)]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1), BeforeValidator(_integral)]
DeadlineSeconds = Annotated[int, Field(ge=60, le=86_400), BeforeValidator(_integral)]

Prompt = Annotated[
    str,
    StringConstraints(min_length=1, max_length=5000),
    AfterValidator(_clean_prompt),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 5000, "pattern": PROMPT_PATTERN}),
]
ClientReference = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class JobRequest(BaseModel):
    """A Seedance 2.0 job as users submit it: the command every door hands the intake. Field names are a
    public contract. What each provider can serve is the catalog's to check (``catalog.capabilities``)
    and to publish (``catalog.request_schema.PublishedJobRequest``)."""

    # Strict, as the published schema is: "5" is not a duration, 0.0 not a boolean.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    provider: ProviderChoice = Field(
        description='A provider\'s name, or "auto": the cheapest enabled provider that serves the request'
    )
    providers: (
        Annotated[list[Provider], Field(min_length=1, max_length=7, json_schema_extra={"uniqueItems": True})]
        | None
    ) = Field(
        default=None,
        description=(
            'With "auto", the providers to choose from; with a named provider, the ones to fail over to,'
            " in this order"
        ),
    )
    prompt: Prompt
    first_frame_url: MediaUrl | None = None
    last_frame_url: MediaUrl | None = None
    reference_image_urls: list[MediaUrl] = Field(default_factory=list, max_length=9)
    reference_video_urls: list[MediaUrl] = Field(default_factory=list, max_length=3)
    reference_audio_urls: list[MediaUrl] = Field(default_factory=list, max_length=3)
    resolution: Resolution = "720p"
    duration: DurationSeconds | None = Field(
        default=None, description="Seconds; omit for the provider's auto"
    )
    aspect_ratio: AspectRatio | None = None
    generate_audio: bool = True
    seed: Seed | None = None
    watermark: bool | None = None
    camera_fixed: bool | None = None
    return_last_frame: bool | None = None
    end_user_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    tier: Tier | None = Field(default=None, description="Model tier; omit for the provider's default")
    operation: Operation | None = Field(
        default=None, description="The gateway's compat mode; the inputs must be the ones it takes"
    )
    client_reference: ClientReference | None = Field(
        default=None, description="Your own id for the job; echoed in the job view and every event"
    )
    notify_url: NotifyUrl | None = Field(
        default=None,
        description=(
            "https URL that gets a signed Standard Webhooks POST when the job succeeds, fails or is canceled"
        ),
    )
    deadline_seconds: DeadlineSeconds | None = Field(
        default=None,
        description=(
            "Seconds from acceptance (waiting for a provider slot counts): a job not yet transferring"
            " by then is canceled with error.code deadline_exceeded"
        ),
    )

    @field_validator("providers")
    @classmethod
    def _each_provider_once(cls, providers: list[ProviderName] | None) -> list[ProviderName] | None:
        if providers is not None and len(set(providers)) != len(providers):
            raise ValueError("must name each provider once")
        return providers

    def for_provider(self, provider: ProviderName) -> JobRequest:
        """The request as sent to ``provider``: what the catalog checks and an adapter translates."""
        if self.provider == provider and self.providers is None:
            return self
        return self.model_copy(update={"provider": provider, "providers": None})

    @property
    def mode(self) -> Mode:
        """What the video is made from: a first frame, else reference media, else the prompt alone."""
        if self.first_frame_url is not None:
            return "image_to_video"
        if self.reference_image_urls or self.reference_video_urls or self.reference_audio_urls:
            return "reference_to_video"
        return "text_to_video"


#: The detail-types of the events the pipeline announces on its bus, and of the one it takes.
JOB_SUCCEEDED = "Video Job Succeeded"
JOB_FAILED = "Video Job Failed"
JOB_REJECTED = "Video Job Rejected"
JOB_CANCELED = "Video Job Canceled"
JOB_REQUESTED = "Video Job Requested"
PROVIDER_HEALTH_CHANGED = "Provider Health Changed"


class HttpOrigin(BaseModel):
    """Submitted with POST /jobs."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["http"] = "http"


class S3Origin(BaseModel):
    """Dropped into the inputs bucket under drops/; ``line`` is the manifest line (1-based)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["s3"] = "s3"
    bucket: str
    key: str
    etag: str
    line: int | None = None


class EventOrigin(BaseModel):
    """A "Video Job Requested" event on the pipeline's bus."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["event"] = "event"
    event_id: str
    source: str


Origin = Annotated[HttpOrigin | S3Origin | EventOrigin, Field(discriminator="kind")]


class JobStatus(StrEnum):
    QUEUED = "queued"
    SUBMITTED = "submitted"
    PROCESSING = "processing"
    TRANSFERRING = "transferring"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"


#: Statuses from which a provider's verdict (finished or failed) may still be applied, and from which
#: a job may be canceled: once it is transferring, its video is ours and a cancel comes too late.
AWAITING_PROVIDER = frozenset({JobStatus.QUEUED, JobStatus.SUBMITTED, JobStatus.PROCESSING})
TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.EXPIRED, JobStatus.CANCELED})


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


class VideoMetadata(BaseModel):
    """What the MP4 received holds, read from its boxes as it streamed (``videojobs.mp4``)."""

    model_config = ConfigDict(frozen=True)

    duration_seconds: float
    width: int
    height: int
    #: Video samples per second; null when the file does not say (a fragmented MP4).
    fps: float | None
    #: The video sample entry's 4CC: avc1, hvc1, hev1, av01, ...
    video_codec: str
    #: The audio sample entry's 4CC (mp4a, ...); null without an audio track.
    audio_codec: str | None
    has_audio: bool


OutputCheckName = Literal["resolution", "duration", "audio"]


class OutputCheck(BaseModel):
    """Where the video received differs from what the request asked for."""

    model_config = ConfigDict(frozen=True)

    check: OutputCheckName
    expected: str
    actual: str

    @property
    def warning(self) -> str:
        return f"{self.check}: asked for {self.expected}, received {self.actual}"


class StoredVideo(StoredFile):
    """The video in S3, with what it holds and where it differs from the request."""

    #: Null for a job stored before the transfer read its videos.
    metadata: VideoMetadata | None = None
    checks: list[OutputCheck] = Field(default_factory=list)


class FrameMetadata(BaseModel):
    """The last frame's size, from its PNG header."""

    model_config = ConfigDict(frozen=True)

    width: int
    height: int


class StoredFrame(StoredFile):
    """The last frame in S3."""

    metadata: FrameMetadata | None = None


class OpenUpload(BaseModel):
    """A multipart upload a failed transfer attempt could not abort (S3 refused the abort too)."""

    model_config = ConfigDict(frozen=True)

    key: str
    upload_id: str


class NotificationStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    #: The receiver answered 410 Gone: it wants no more.
    GONE = "gone"
    FAILED = "failed"


class Notification(BaseModel):
    """How the POST to the caller's notify_url went."""

    model_config = ConfigDict(frozen=True)

    status: NotificationStatus
    attempts: int
    last_error: str | None = None


class ProviderCancelStatus(StrEnum):
    #: Owed: the job has ended here while its prediction may still run at the provider.
    PENDING = "pending"
    #: The provider took the cancel.
    CANCELED = "canceled"
    #: The provider would not: the prediction has finished, or has started and it cancels only queued ones.
    REFUSED = "refused"
    #: The provider has no cancel call.
    UNSUPPORTED = "unsupported"
    #: The call failed, every time it was tried.
    FAILED = "failed"


class ProviderCancel(BaseModel):
    """What came of asking the provider to stop the job's prediction."""

    model_config = ConfigDict(frozen=True)

    status: ProviderCancelStatus
    message: str | None = None


class CancelView(BaseModel):
    """A cancel asked by the caller (POST /jobs/{job_id}/cancel) or by the job's deadline: when, and what
    the provider said. A summary of the job's ``provider_cancel`` record."""

    model_config = ConfigDict(frozen=True)

    requested_at: datetime
    #: None while the provider's answer is owed, and when there was nothing to ask (never sent).
    provider_cancel: Literal["accepted", "refused", "unsupported"] | None
    #: Why the provider did not stop the prediction (it may still render; its output is never copied).
    error: str | None


_PROVIDER_ANSWER: dict[ProviderCancelStatus, Literal["accepted", "refused", "unsupported"] | None] = {
    ProviderCancelStatus.PENDING: None,
    ProviderCancelStatus.CANCELED: "accepted",
    ProviderCancelStatus.REFUSED: "refused",
    ProviderCancelStatus.UNSUPPORTED: "unsupported",
    # The call failed every time it was tried: the provider did not stop it, as far as we know.
    ProviderCancelStatus.FAILED: "refused",
}


class AttemptOutcome(StrEnum):
    """How one provider's turn at a job went (``Attempt.outcome``)."""

    #: The turn is under way: its create is being sent, or the provider has the job.
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    #: The provider's own verdict: the video was not made.
    FAILED = "failed"
    #: The key was refused for its account (401, 402, 403, out of credit or quota).
    REFUSED = "refused"
    #: 429, 5xx or no connection, for the provider's whole share of creates.
    UNAVAILABLE = "unavailable"
    #: A create got no answer, and no webhook came within the grace.
    NO_ANSWER = "no_answer"
    #: The provider refused the request itself (a 4xx about it): no other provider is tried.
    REJECTED = "rejected"
    #: Not tried: the provider's breaker was open.
    SKIPPED = "skipped"
    #: The job ended here (canceled, expired, its budget) while this turn was under way.
    ENDED = "ended"


class Attempt(BaseModel):
    """One provider's turn at a job, on one of its API keys: from the first create sent there until the
    job moved on or ended. A webhook or status check of a turn that is not the job's latest changes
    nothing (its token names its turn)."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    #: The API key's fingerprint; None for a provider skipped before a key was chosen.
    key_id: str | None
    started_at: datetime
    ended_at: datetime | None = None
    outcome: AttemptOutcome = AttemptOutcome.IN_PROGRESS
    error: str | None = None
    #: Create calls sent in this turn.
    creates: int = 0
    #: The prediction this turn made, where known.
    provider_job_id: str | None = None
    #: A turn left behind whose prediction was found still rendering: what its cancel came to.
    cancel: ProviderCancel | None = None

    def ended(self, outcome: AttemptOutcome, error: str | None, now: datetime) -> Attempt:
        return self.model_copy(update={"outcome": outcome, "error": error, "ended_at": now})


class Route(BaseModel):
    """Where a job may go: ``candidates`` in the order they are tried, ``chosen`` the one it is at."""

    model_config = ConfigDict(frozen=True)

    candidates: list[ProviderName]
    chosen: ProviderName


class Job(BaseModel):
    """A job as stored: the state machine only moves forward (see ``JobStore.transition``)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    provider: ProviderName
    status: JobStatus
    request: JobRequest
    origin: Origin = Field(default_factory=HttpOrigin)
    created_at: datetime
    updated_at: datetime
    expires_at: int
    #: Which of the provider's API keys created the prediction (a fingerprint, never the key).
    provider_key_id: str | None = None
    #: The concurrency slot the job holds at its provider, from create until it leaves the provider.
    capacity_slot: str | None = None
    dispatch_attempts: int = 0
    #: Set just before a create call and cleared once its answer is known: if it is still set, the
    #: last create's fate is unknown (a timeout or a reset after the request went out).
    create_sent_at: datetime | None = None
    #: When the first create was sent; the job's maximum age counts from here.
    dispatched_at: datetime | None = None
    last_dispatch_error: str | None = None
    #: The outcome event ("Video Job Succeeded" or "Video Job Failed") written with the job's terminal
    #: state and not yet confirmed published; whoever sees the job next publishes it.
    pending_event: str | None = None
    #: Whoever is publishing ``pending_event`` holds it until then (epoch seconds); others wait.
    event_claimed_until: int | None = None
    notification: Notification | None = None
    #: Set when the job ended here (expired or canceled) while its prediction may still run at the provider.
    provider_cancel: ProviderCancel | None = None
    #: When a cancel ended the job (POST /jobs/{job_id}/cancel or the job's deadline).
    cancel_requested_at: datetime | None = None
    provider_job_id: str | None = None
    #: ProviderReceipt.links, when the provider returned any.
    provider_links: dict[str, str] | None = None
    output_url: str | None = None
    last_frame_url: str | None = None
    #: Set with ``-> transferring`` and cleared once the transfer message is queued: while it is set,
    #: whoever finds the job queues it (the outbox the outcome events use, for the transfer).
    transfer_owed: bool | None = None
    video: StoredVideo | None = None
    last_frame: StoredFrame | None = None
    #: What differs from the request in the output received (``video.checks``, as sentences).
    warnings: list[str] = Field(default_factory=list)
    cost_estimate_usd: float | None = None
    error: JobError | None = None
    transfer_error: str | None = None
    #: The error code the job fails with if the last transfer attempt's error stays the last.
    transfer_error_code: str | None = None
    #: Uploads failed attempts left open, for the next attempt to abort.
    uploads_left_open: list[OpenUpload] = Field(default_factory=list)
    #: Where the job may go; None for a job stored before routing (its one provider).
    route: Route | None = None
    #: Each provider turn, oldest first; the last is the current one.
    attempts: list[Attempt] = Field(default_factory=list)

    @classmethod
    def new(
        cls,
        request: JobRequest,
        *,
        now: datetime,
        retention: timedelta,
        route: Route | None = None,
        origin: HttpOrigin | S3Origin | EventOrigin | None = None,
        job_id: str | None = None,
        cost_estimate_usd: float | None = None,
    ) -> Job:
        """``route``: where the intake's routing sent it; by default the one provider the request names."""
        if route is None:
            if request.provider == AUTO:
                raise ValueError('a job asking for provider "auto" needs its route')
            route = Route(candidates=[request.provider], chosen=request.provider)
        return cls(
            job_id=job_id or str(uuid.uuid4()),
            provider=route.chosen,
            route=route,
            status=JobStatus.QUEUED,
            request=request,
            origin=origin or HttpOrigin(),
            created_at=now,
            updated_at=now,
            expires_at=int((now + retention).timestamp()),
            cost_estimate_usd=cost_estimate_usd,
        )

    @property
    def candidates(self) -> list[ProviderName]:
        return self.route.candidates if self.route is not None else [self.provider]

    @property
    def later_candidates(self) -> list[ProviderName]:
        """The providers after the current one in the route, in order."""
        candidates = self.candidates
        return candidates[candidates.index(self.provider) + 1 :] if self.provider in candidates else []

    @property
    def next_candidate(self) -> ProviderName | None:
        """The provider after the current one in the route; None at the last."""
        later = self.later_candidates
        return later[0] if later else None

    @property
    def provider_request(self) -> JobRequest:
        """The request as its current provider gets it."""
        return self.request.for_provider(self.provider)

    @property
    def current_attempt(self) -> Attempt | None:
        """The latest turn. One under way carries the job's prediction: a create that got no answer
        learns it from its webhook or a status check, which write it on the job alone."""
        last = self.attempts[-1] if self.attempts else None
        if last is None or last.ended_at is not None or last.provider != self.provider:
            return last
        return last.model_copy(update={"provider_job_id": last.provider_job_id or self.provider_job_id})

    @property
    def attempt_number(self) -> int:
        """The current turn's number (1-based; its webhook token names it), 1 before any."""
        return max(1, len(self.attempts))

    def creates_at(self, provider: ProviderName) -> int:
        return sum(attempt.creates for attempt in self.attempts if attempt.provider == provider)

    @property
    def reservation_id(self) -> str:
        """The budget reservation of the job's turn at its current provider: the first candidate's is
        the job id, a later one's names its place in the route (its estimate differs)."""
        candidates = self.candidates
        index = candidates.index(self.provider) if self.provider in candidates else 0
        return self.job_id if index == 0 else f"{self.job_id}#route{index}"

    @property
    def started_at(self) -> datetime:
        """Where the job's maximum age counts from: its first create, or its creation."""
        return self.dispatched_at or self.created_at

    @property
    def deadline(self) -> datetime | None:
        """When the job is canceled unless it is transferring by then: its deadline counts from acceptance."""
        seconds = self.request.deadline_seconds
        return None if seconds is None else self.created_at + timedelta(seconds=seconds)

    def past_deadline(self, now: datetime) -> bool:
        return self.deadline is not None and now >= self.deadline

    @property
    def cancel(self) -> CancelView | None:
        if self.cancel_requested_at is None:
            return None
        answer = self.provider_cancel
        return CancelView(
            requested_at=self.cancel_requested_at,
            provider_cancel=None if answer is None else _PROVIDER_ANSWER[answer.status],
            error=None
            if answer is None or answer.status is ProviderCancelStatus.CANCELED
            else answer.message,
        )

    @property
    def attempts_view(self) -> list[Attempt]:
        """The turns, the last one ended with the job when the job has ended while it was under way."""
        last = self.current_attempt
        if last is None:
            return []
        delivered = self.status in (JobStatus.TRANSFERRING, JobStatus.SUCCEEDED)
        if last.ended_at is not None or not (delivered or self.status in TERMINAL):
            return [*self.attempts[:-1], last]
        if self.output_url is not None or self.status is JobStatus.SUCCEEDED:
            # The provider delivered; what became of the copy is the job's own story.
            ended = last.ended(AttemptOutcome.SUCCEEDED, None, self.updated_at)
        else:
            error = self.error.message if self.error else None
            ended = last.ended(AttemptOutcome.ENDED, error, self.updated_at)
        return [*self.attempts[:-1], ended]

    def view(self) -> JobView:
        data = self.model_dump(include=set(JobView.model_fields) - {"cancel", "attempts"})
        return JobView.model_validate(
            {
                **data,
                "client_reference": self.request.client_reference,
                "cancel": self.cancel,
                "attempts": self.attempts_view,
            }
        )


class JobView(BaseModel):
    """What the API returns and what events carry. The provider's output URLs stay private."""

    job_id: str
    provider: Provider
    status: JobStatus
    origin: Origin
    client_reference: str | None
    provider_job_id: str | None
    video: StoredVideo | None
    last_frame: StoredFrame | None
    #: Where the output differs from the request (``video.checks`` as sentences); empty when it does not.
    warnings: list[str] = Field(default_factory=list)
    cost_estimate_usd: float | None
    error: JobError | None
    notification: Notification | None
    provider_cancel: ProviderCancel | None = None
    cancel: CancelView | None = None
    #: Where the job may go and where it is; null for a job stored before routing.
    route: Route | None = None
    #: Each provider turn, oldest first.
    attempts: list[Attempt] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    request: JobRequest


#: Which door a job came through (``origin.kind``).
OriginKind = Literal["http", "s3", "event"]

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)")


def _rfc3339_text(value: Any) -> Any:
    # pydantic alone would also take "1700000000" or a date without a time as a datetime.
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T12:00:00Z")
    return value


#: A moment as RFC 3339 text with its offset.
Rfc3339Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


class JobListFilters(BaseModel):
    """What GET /jobs narrows the list to; every field optional, all of them combined."""

    model_config = ConfigDict(frozen=True)

    status: JobStatus | None = None
    provider: ProviderName | None = None
    client_reference: str | None = None
    end_user_id: str | None = None
    origin: OriginKind | None = None
    #: Jobs created strictly after this moment.
    created_after: datetime | None = None
    #: Jobs created strictly before this moment.
    created_before: datetime | None = None


class JobListPage(BaseModel):
    """One page of GET /jobs, newest first; ``next_cursor`` continues it (null: the list is done)."""

    jobs: list[JobView]
    next_cursor: str | None


class JobEvent(JobView):
    """The detail of "Video Job Succeeded", "Video Job Failed" and "Video Job Canceled": the job view,
    and an id that is the same for every publication of the same outcome, so consumers can drop repeats."""

    event_id: str


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
    #: URLs the provider returned for following the prediction (fal: status_url, response_url,
    #: cancel_url); kept on the job and handed back to get_prediction and cancel.
    links: dict[str, str] = Field(default_factory=dict)


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
    #: The dispatch attempt whose create this chain watches; a chain of an earlier attempt stops.
    dispatch_attempt: int | None = None
    #: When a wait longer than SQS's 15-minute delay is split into hops, the hop that is due.
    due_at: datetime | None = None
    #: "deadline": not a look at the provider but the job's deadline, which cancels it if it is due.
    purpose: Literal["progress", "deadline"] = "progress"


class SlotWait(BaseModel):
    """A job's place in its provider's line for a concurrency slot: the moment it began to wait."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    since: datetime
    #: Sent at once by whoever gave a slot back, rather than the job's own delayed look.
    woken: bool = False


class DispatchRequest(BaseModel):
    """The dispatch queue's message body: take a queued job to its provider. ``slot_wait``: the job
    waits in its provider's line, and the message is for that wait only (once the job has left the
    line, it is not needed)."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    due_at: datetime | None = None
    slot_wait: SlotWait | None = None


class ValidationDetail(BaseModel):
    """One problem with a request, in the shape of a 422 body's ``detail`` items."""

    model_config = ConfigDict(frozen=True)

    loc: list[str | int]
    msg: str
    type: str


class OutputMismatch(StrEnum):
    """What a video that differs from its request does to the job (``OUTPUT_MISMATCH``)."""

    #: The job succeeds, with the difference in ``video.checks`` and ``warnings``.
    FLAG = "flag"
    #: The job fails with ``output_mismatch``; the video stays in S3.
    FAIL = "fail"


class BudgetUnpriced(StrEnum):
    """What a job without a cost estimate does while a spending ceiling is set."""

    REFUSE = "refuse"
    ALLOW = "allow"


class SpendFigures(BaseModel):
    """One period's ceiling in USD: ``limit`` null when none is set. ``spent`` is what jobs that
    reached their provider cost by their estimates; ``reserved`` what jobs on their way there hold."""

    limit: float | None
    spent: float
    reserved: float


class DaySpend(SpendFigures):
    #: The UTC day, YYYY-MM-DD.
    date: str


class MonthSpend(SpendFigures):
    #: The UTC month, YYYY-MM.
    month: str


class EndUserSpend(DaySpend):
    end_user_id: str


class SpendReport(BaseModel):
    """GET /spend: today's and this month's figures, and one end user's today when asked for."""

    day: DaySpend
    month: MonthSpend
    end_user: EndUserSpend | None


class JobRejection(BaseModel):
    """A request from S3 or EventBridge that failed validation: the "Video Job Rejected" detail."""

    model_config = ConfigDict(frozen=True)

    #: The same for every delivery of the same origin, so consumers can drop duplicates.
    rejection_id: str
    origin: Origin
    client_reference: str | None
    detail: list[ValidationDetail]


class BreakerState(StrEnum):
    """A provider's circuit breaker: closed (creates go), open (none go), half-open (one goes)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class ProviderHealthChange(BaseModel):
    """The detail of "Provider Health Changed": a provider's breaker opened or closed."""

    model_config = ConfigDict(frozen=True)

    provider: Provider
    state: Literal[BreakerState.OPEN, BreakerState.CLOSED]
    changed_at: datetime
    consecutive_failures: int
    #: While open: when it lets one create through again.
    open_until: datetime | None = None
    #: The failure that opened it.
    last_error: str | None = None


#: S3's largest single PUT (5 GiB): no upload may declare more, whatever MAX_UPLOAD_BYTES says.
MAX_SINGLE_PUT_BYTES = 5 * 1024**3
UploadSize = Annotated[int, Field(ge=1, le=MAX_SINGLE_PUT_BYTES), BeforeValidator(_integral)]


class UploadRequest(BaseModel):
    """POST /uploads: the file the caller is about to PUT, exactly as it will send it."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    content_type: InputMediaType = Field(
        description="The file's media type; the PUT must send it as Content-Type"
    )
    size_bytes: UploadSize = Field(
        description=(
            "The file's exact size in bytes; the PUT must send it as Content-Length. At most the"
            " deployment's MAX_UPLOAD_BYTES (50 MiB unless configured otherwise)"
        )
    )


class UploadHeaders(BaseModel):
    """The headers the PUT must send, exactly: they are signed into its URL."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    content_type: str = Field(alias="Content-Type")
    content_length: str = Field(alias="Content-Length")


class UploadGrant(BaseModel):
    """POST /uploads' answer: where to PUT the file, and how to name it in a job request."""

    model_config = ConfigDict(frozen=True)

    upload_url: str = Field(description="A presigned S3 PUT, valid until expires_at")
    s3_url: str = Field(
        description="s3://<inputs bucket>/uploads/<id><extension>: put it in a job's media fields"
    )
    expires_at: datetime
    headers: UploadHeaders


def utc_now() -> datetime:
    return datetime.now(UTC)
