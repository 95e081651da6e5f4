"""GET /providers: each provider as this deployment sees it now, for operators and for whoever wonders
where an ``auto`` job will go."""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from pydantic import BaseModel

from videojobs.catalog.capabilities import CAPABILITIES, ProviderCapabilities
from videojobs.catalog.estimates import estimate_cost_usd
from videojobs.dependencies import Dependencies
from videojobs.models import BreakerState, JobRequest, Provider, ProviderName, Resolution, Tier

#: The job a provider's headline price is for.
REFERENCE_JOB = {"prompt": "reference", "resolution": "720p", "duration": 5, "aspect_ratio": "16:9"}


class CapabilitySummary(BaseModel):
    tiers: dict[Tier, list[Resolution]]
    min_duration: int
    max_duration: int
    first_frame: bool
    last_frame: bool
    max_reference_images: int
    max_reference_videos: int
    max_reference_audios: int
    callbacks: str


class PacingLimits(BaseModel):
    keys: int
    max_concurrent_per_key: int
    max_creates_per_minute_per_key: int


class BreakerView(BaseModel):
    state: BreakerState
    consecutive_failures: int
    #: While open: when it lets one create through again.
    open_until: datetime | None


class BenchedKey(BaseModel):
    #: The key's fingerprint, never the key.
    key_id: str
    until: datetime


class ProviderView(BaseModel):
    provider: Provider
    #: A base URL and at least one API key are set.
    enabled: bool
    capabilities: CapabilitySummary
    #: The estimate of a 5 s, 720p, 16:9 text-to-video job; null where the provider has no price.
    price_5s_720p_usd: float | None
    limits: PacingLimits
    slots_in_use: int
    breaker: BreakerView
    benched_keys: list[BenchedKey]


class ProvidersReport(BaseModel):
    """Every provider of the catalog, in ROUTING_ORDER."""

    providers: list[ProviderView]


def providers_report(deps: Dependencies) -> ProvidersReport:
    now = deps.clock()
    enabled = set(deps.enabled_providers)
    return ProvidersReport(
        providers=[_view(name, name in enabled, now, deps) for name in deps.routing_policy.order]
    )


def _view(name: ProviderName, enabled: bool, now: datetime, deps: Dependencies) -> ProviderView:
    usage = deps.capacity.usage(name, now=now)
    health = deps.health.reading(name, now=now)
    reference = JobRequest.model_validate({**REFERENCE_JOB, "provider": name})
    return ProviderView(
        provider=name,
        enabled=enabled,
        capabilities=_summary(CAPABILITIES[name]),
        price_5s_720p_usd=estimate_cost_usd(reference, deps.intake_policy.price_per_second_usd.get(name)),
        limits=PacingLimits(
            keys=usage.keys,
            max_concurrent_per_key=usage.max_concurrent_per_key,
            max_creates_per_minute_per_key=usage.max_creates_per_minute_per_key,
        ),
        slots_in_use=usage.slots_in_use,
        breaker=BreakerView(
            state=health.state, consecutive_failures=health.consecutive_failures, open_until=health.open_until
        ),
        benched_keys=[
            BenchedKey(key_id=key, until=until) for key, until in sorted(health.benched_until.items())
        ],
    )


def _summary(caps: ProviderCapabilities) -> CapabilitySummary:
    return CapabilitySummary(
        tiers={
            tier: [resolution for resolution in get_args(Resolution) if resolution in resolutions]
            for tier, resolutions in caps.tiers.items()
        },
        min_duration=caps.min_duration,
        max_duration=caps.max_duration,
        first_frame=caps.first_frame,
        last_frame=caps.last_frame,
        max_reference_images=caps.max_reference_images,
        max_reference_videos=caps.max_reference_videos,
        max_reference_audios=caps.max_reference_audios,
        callbacks=caps.callbacks.value,
    )
