"""The ports the logic needs, bundled. ``bootstrap.build_dependencies`` builds the real ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from videojobs.errors import ProviderNotConfigured
from videojobs.idempotency import IdempotencyGuard
from videojobs.models import ProviderName
from videojobs.ports import (
    Clock,
    DownloadPolicy,
    EventPublisher,
    InputMedia,
    JobStore,
    StatusChecks,
    TransferQueue,
    VideoProvider,
    VideoSource,
    VideoStore,
)
from videojobs.security import WebhookAuthenticator


@dataclass(frozen=True)
class StatusCheckPolicy:
    """When to look at a job whose provider has not answered: first at the provider's typical
    completion time, then with doubling gaps up to a cap, until the job is too old and expires."""

    first_delay_seconds: int
    max_delay_seconds: int
    job_max_age_seconds: int

    def delay_before(self, attempt: int) -> int:
        if attempt <= 1:
            return self.first_delay_seconds
        base = max(1, self.first_delay_seconds // 4)
        doubled: int = base * 2 ** min(attempt - 2, 20)
        return min(doubled, self.max_delay_seconds)


@dataclass(frozen=True)
class InputPolicy:
    """Which buckets s3:// inputs may come from, and how long a presigned URL for one lives."""

    buckets: frozenset[str]
    url_expiry_seconds: int


@dataclass(frozen=True)
class Dependencies:
    jobs: JobStore
    videos: VideoStore
    source: VideoSource
    transfers: TransferQueue
    status_checks: StatusChecks
    inputs: InputMedia
    events: EventPublisher
    providers: Mapping[ProviderName, VideoProvider]
    download_policies: Mapping[ProviderName, DownloadPolicy]
    authenticator: WebhookAuthenticator
    idempotency: IdempotencyGuard
    clock: Clock
    job_retention: timedelta
    public_base_url: str | None
    status_check_policy: StatusCheckPolicy
    input_policy: InputPolicy

    def provider(self, name: ProviderName) -> VideoProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise ProviderNotConfigured(f"provider {name!r} has no API key or base URL configured")
        return provider
