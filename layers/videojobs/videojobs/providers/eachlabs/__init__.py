"""EachLabs (../shared/provider-docs/eachlabs-seedance-2.0.txt): Seedance 2.0 Fast, HMAC-signed webhooks."""

from __future__ import annotations

from decimal import Decimal

from pydantic import SecretStr

from videojobs.models import JobRequest, Resolution
from videojobs.ports import VideoProvider
from videojobs.providers.unit import (
    SEEDANCE,
    AdapterContext,
    ProviderSettings,
    ProviderUnit,
)

#: eachlabs-seedance-2.0.txt, "Pricing": per output second, by resolution.
USD_PER_SECOND: dict[Resolution, Decimal] = {"480p": Decimal("0.1129"), "720p": Decimal("0.2419")}


def estimate_cost_usd(request: JobRequest) -> float | None:
    rate = USD_PER_SECOND.get(request.resolution)
    if request.duration is None or rate is None:
        return None
    return float(rate * request.duration)


def _adapter(
    settings: ProviderSettings, context: AdapterContext, base_url: str, api_key: SecretStr
) -> VideoProvider:
    from videojobs.providers.eachlabs.adapter import EachLabsProvider

    return EachLabsProvider(
        context.client,
        base_url=base_url,
        api_key=api_key,
        clock=context.clock,
        max_webhook_age=context.max_webhook_age,
    )


UNIT = ProviderUnit(
    name="eachlabs",
    # The two "fast" slugs, 480p/720p, 4-15 s or auto, seed and end_user_id; webhooks signed with the
    # per-job webhook_secret; no upload endpoint.
    capabilities=SEEDANCE.differing(
        tiers={"fast": frozenset({"480p", "720p"})},
        max_reference_images=0,
        max_reference_videos=0,
        max_reference_audios=0,
        optional_fields=frozenset({"seed", "end_user_id"}),
    ),
    settings_model=ProviderSettings,
    setting_defaults={
        "base_url": "https://api.eachlabs.ai",
        "output_hosts": ("*.eachlabs.ai", "storage.googleapis.com"),
        # "Rate Limits & Limits": 10 concurrent predictions per key and 100 creates per minute.
        "max_concurrent": 10,
        "max_creates_per_minute": 100,
    },
    build_adapter=_adapter,
    estimate_cost_usd=estimate_cost_usd,
)
