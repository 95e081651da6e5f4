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
    JobStore,
    TransferQueue,
    VideoProvider,
    VideoSource,
    VideoStore,
)
from videojobs.security import WebhookAuthenticator


@dataclass(frozen=True)
class Dependencies:
    jobs: JobStore
    videos: VideoStore
    source: VideoSource
    transfers: TransferQueue
    events: EventPublisher
    providers: Mapping[ProviderName, VideoProvider]
    download_policies: Mapping[ProviderName, DownloadPolicy]
    authenticator: WebhookAuthenticator
    idempotency: IdempotencyGuard
    clock: Clock
    job_retention: timedelta
    public_base_url: str | None

    def provider(self, name: ProviderName) -> VideoProvider:
        provider = self.providers.get(name)
        if provider is None:
            raise ProviderNotConfigured(f"provider {name!r} has no API key or base URL configured")
        return provider
