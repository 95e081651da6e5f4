"""Atlas Cloud (../shared/provider-docs/atlascloud-seedance-2.0-image-to-video.txt): Ed25519-signed
webhooks in an envelope, an upload endpoint, prices per token."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AnyHttpUrl, SecretStr

from videojobs.models import JobRequest
from videojobs.ports import VideoProvider
from videojobs.pricing import video_tokens
from videojobs.providers.unit import (
    SEEDANCE,
    AdapterContext,
    ProviderSettings,
    ProviderUnit,
)

#: tokens = height × width × (input seconds + output seconds) × 24 / 1024, priced per 1000 tokens,
#: lower when video inputs are given.
USD_PER_1000_TOKENS = Decimal("0.0112")
USD_PER_1000_TOKENS_WITH_VIDEO_INPUT = Decimal("0.00688")


class AtlasCloudSettings(ProviderSettings):
    # Atlas's webhook keys, as public implementations that cite atlascloud.ai/docs/webhooks fetch them.
    jwks_url: AnyHttpUrl = AnyHttpUrl("https://api.atlascloud.ai/api/v1/webhooks/jwks.json")


def estimate_cost_usd(request: JobRequest) -> float | None:
    tokens = video_tokens(request)
    if tokens is None:
        return None
    rate = USD_PER_1000_TOKENS_WITH_VIDEO_INPUT if request.reference_video_urls else USD_PER_1000_TOKENS
    return float(round(tokens * rate / 1000, 4))


def _adapter(
    settings: AtlasCloudSettings, context: AdapterContext, base_url: str, api_key: SecretStr
) -> VideoProvider:
    from videojobs.providers.atlascloud.adapter import AtlasCloudProvider

    return AtlasCloudProvider(
        context.client,
        base_url=base_url,
        api_key=api_key,
        jwks_url=str(settings.jwks_url),
        clock=context.clock,
        max_webhook_age=context.max_webhook_age,
    )


UNIT = ProviderUnit(
    name="atlascloud",
    # Up to 9 images and 3 video or audio clips; the resolutions (ours) are Seedance 2.0's
    # 480p/720p/1080p; Ed25519-signed webhooks; uploadMedia.
    capabilities=SEEDANCE.differing(tiers={"standard": frozenset({"480p", "720p", "1080p"})}, uploads=True),
    settings_model=AtlasCloudSettings,
    setting_defaults={
        "base_url": "https://api.atlascloud.ai",
        "output_hosts": ("*.atlascloud.ai",),
        # The document gives no limits: ours, deliberately modest.
        "max_concurrent": 5,
        "max_creates_per_minute": 60,
    },
    build_adapter=_adapter,
    estimate_cost_usd=estimate_cost_usd,
)
