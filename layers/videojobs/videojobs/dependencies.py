"""The ports the logic needs, bundled. ``bootstrap.build_dependencies`` builds the real ones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from videojobs.cursors import ListCursors
from videojobs.errors import ProviderNotConfigured
from videojobs.models import BudgetUnpriced, OutputMismatch, ProviderChoice, ProviderName
from videojobs.ports import (
    CallerNotifier,
    Clock,
    DispatchQueue,
    DownloadPolicy,
    EventPublisher,
    InputMedia,
    JobStore,
    NotificationRetries,
    ProviderCapacity,
    ProviderHealth,
    SpendingLedger,
    StatusChecks,
    TransferQueue,
    VideoProvider,
    VideoSource,
    VideoStore,
)
from videojobs.security import WebhookAuthenticator

if TYPE_CHECKING:
    # Only the intake uses it: the others never load Powertools' idempotency utility.
    from videojobs.idempotency import IdempotencyGuard


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
class DispatchPolicy:
    """How the submit function treats provider errors and creates whose fate is unknown."""

    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float
    #: How long a job whose create got no answer waits for a webhook before the create is resent.
    uncertain_grace_seconds: int
    #: How soon a job that found every key at its limit looks again.
    capacity_retry_seconds: int


@dataclass(frozen=True)
class RoutingPolicy:
    """How a job chooses among its candidates and when it moves to the next (see catalog.routing)."""

    #: Providers without an estimate, in the order they are tried (every provider, once).
    order: tuple[ProviderName, ...]
    spillover: bool = False
    failover_on_provider_failure: bool = True
    key_bench_seconds: int = 900


@dataclass(frozen=True)
class OutputPolicy:
    """How the transfer reads and judges what a provider delivered, and how long a link to it lives."""

    #: The largest moov box kept while the MP4 streams; a larger one makes the file broken.
    max_moov_bytes: int = 32 * 1024 * 1024
    mismatch: OutputMismatch = OutputMismatch.FLAG
    #: GET /jobs/{job_id}/video and /last-frame: the presigned GET's lifetime.
    url_expiry_seconds: int = 900


@dataclass(frozen=True)
class UploadPolicy:
    """POST /uploads: the bucket uploads go to (None: uploads are off), the largest file a caller may
    declare, and how long the presigned PUT lives."""

    bucket: str | None = None
    max_bytes: int = 50 * 1024 * 1024
    url_expiry_seconds: int = 900


@dataclass(frozen=True)
class IntakePolicy:
    """What the doors accept besides the request model: drops, and where notify_url may point."""

    drop_default_provider: ProviderChoice | None
    drop_default_prompt: str | None
    max_drop_bytes: int
    #: Local mode: notify_url may be plain http to a loopback address.
    allow_loopback_urls: bool
    max_request_bytes: int
    #: An operator's price per output second for providers that publish no prices (the estimate).
    price_per_second_usd: Mapping[ProviderName, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class BudgetPolicy:
    """The spending ceilings in micro-dollars (None: no ceiling), per UTC day, per UTC month and per end
    user per UTC day, and what a job without an estimate does while one applies to it."""

    daily_limit_micros: int | None = None
    monthly_limit_micros: int | None = None
    end_user_daily_limit_micros: int | None = None
    unpriced: BudgetUnpriced = BudgetUnpriced.REFUSE

    def applies_to(self, end_user_id: str | None) -> bool:
        """Whether any ceiling binds a job of ``end_user_id``."""
        end_user_ceiling = end_user_id is not None and self.end_user_daily_limit_micros is not None
        return (
            self.daily_limit_micros is not None or self.monthly_limit_micros is not None or end_user_ceiling
        )


@dataclass(frozen=True)
class NotifyPolicy:
    """The waits between deliveries of a caller notification; one more try than waits."""

    retry_delays_seconds: tuple[int, ...]


@dataclass(frozen=True)
class Dependencies:
    jobs: JobStore
    videos: VideoStore
    source: VideoSource
    transfers: TransferQueue
    status_checks: StatusChecks
    inputs: InputMedia
    events: EventPublisher
    #: Per provider, one adapter per API key, by key id (a fingerprint of the key).
    providers: Mapping[ProviderName, Mapping[str, VideoProvider]]
    download_policies: Mapping[ProviderName, DownloadPolicy]
    authenticator: WebhookAuthenticator
    list_cursors: ListCursors
    idempotency: IdempotencyGuard
    clock: Clock
    job_retention: timedelta
    public_base_url: str | None
    status_check_policy: StatusCheckPolicy
    input_policy: InputPolicy
    dispatches: DispatchQueue
    capacity: ProviderCapacity
    dispatch_policy: DispatchPolicy
    intake_policy: IntakePolicy
    notifier: CallerNotifier
    notification_retries: NotificationRetries
    notify_policy: NotifyPolicy
    notify_signing_secret: str | None
    max_webhook_bytes: int
    budget: SpendingLedger
    budget_policy: BudgetPolicy
    health: ProviderHealth
    routing_policy: RoutingPolicy
    output_policy: OutputPolicy = field(default_factory=OutputPolicy)
    upload_policy: UploadPolicy = field(default_factory=UploadPolicy)

    @property
    def enabled_providers(self) -> list[ProviderName]:
        """The providers with a base URL and at least one key, in ROUTING_ORDER."""
        return [name for name in self.routing_policy.order if self.providers.get(name)]

    def provider(self, name: ProviderName, key_id: str | None = None) -> VideoProvider:
        """The adapter for ``key_id``, the key that created the job; any key where that does not matter
        (or the key has left the pool since)."""
        by_key = self.providers.get(name)
        if not by_key:
            raise ProviderNotConfigured(f"provider {name!r} has no API key or base URL configured")
        if key_id is not None and key_id in by_key:
            return by_key[key_id]
        return next(iter(by_key.values()))
