"""BytePlus ModelArk (docs.byteplus.com/en/docs/ModelArk/1520757): Seedance 2.0's own API. Unsigned
callbacks on every status change, confirmed by a status read; a cancel for queued tasks; prices per token.

The three model ids are settings, so that Volcengine Ark (``doubao-seedance-2-0-…`` on
``https://ark.cn-beijing.volces.com/api/v3``) works with the same dialect.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator

from videojobs.models import JobRequest, Resolution, Tier
from videojobs.ports import VideoProvider
from videojobs.pricing import video_tokens
from videojobs.providers.unit import (
    SEEDANCE,
    AdapterContext,
    Callbacks,
    ProviderSettings,
    ProviderUnit,
)

ModelId = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^\S+$")]


class BytePlusSettings(ProviderSettings):
    #: The model (or endpoint id, ``ep-…``) each tier runs on. ModelArk's ids by default (1520757, "model").
    standard_model: ModelId = "dreamina-seedance-2-0-260128"
    fast_model: ModelId = "dreamina-seedance-2-0-fast-260128"
    mini_model: ModelId = "dreamina-seedance-2-0-mini-260615"
    #: Seconds after which ModelArk ends a task that has not finished (its ``execution_expires_after``,
    #: 3600-259200, ModelArk's own default 172800). Ours: 7200, the pipeline's default JOB_MAX_AGE_SECONDS,
    #: so that a task we have given up on is not rendered (and billed) later.
    execution_expires_after: Annotated[int, Field(ge=3600, le=259_200)] | None = 7200

    @field_validator("execution_expires_after", mode="before")
    @classmethod
    def _empty_sends_nothing(cls, value: Any) -> Any:
        return None if value == "" else value

    def model_for(self, tier: Tier) -> str:
        return {"standard": self.standard_model, "fast": self.fast_model, "mini": self.mini_model}[tier]


#: USD per million output tokens (docs.byteplus.com/en/docs/ModelArk/1544106, "Pricing", video generation,
#: as several public rate cards copy it: the stored copies of that page were empty), (without video
#: input, with video input). The standard model's rate depends on the output resolution.
USD_PER_MILLION_TOKENS: dict[Tier, dict[Resolution, tuple[Decimal, Decimal]]] = {
    "standard": {
        "480p": (Decimal("7.0"), Decimal("4.3")),
        "720p": (Decimal("7.0"), Decimal("4.3")),
        "1080p": (Decimal("7.7"), Decimal("4.7")),
        "4k": (Decimal("4.0"), Decimal("2.4")),
    },
    "fast": {"480p": (Decimal("5.6"), Decimal("3.3")), "720p": (Decimal("5.6"), Decimal("3.3"))},
    "mini": {"480p": (Decimal("3.5"), Decimal("2.1")), "720p": (Decimal("3.5"), Decimal("2.1"))},
}


def estimate_cost_usd(request: JobRequest) -> float | None:
    """Tokens as the same page counts them (``video_tokens``: the frame size is ours, and ModelArk's own
    pixel table differs from it by a few per cent), at the tier's and resolution's rate."""
    tokens = video_tokens(request)
    tier: Tier = request.tier or UNIT.capabilities.default_tier
    rates = USD_PER_MILLION_TOKENS.get(tier, {}).get(request.resolution)
    if tokens is None or rates is None:
        return None
    rate = rates[1] if request.reference_video_urls else rates[0]
    return float(round(tokens * rate / 1_000_000, 4))


def _adapter(
    settings: BytePlusSettings, context: AdapterContext, base_url: str, api_key: SecretStr
) -> VideoProvider:
    from videojobs.providers.byteplus.adapter import BytePlusProvider

    return BytePlusProvider(
        context.client,
        base_url=base_url,
        api_key=api_key,
        models={tier: settings.model_for(tier) for tier in ("standard", "fast", "mini")},
        default_tier=UNIT.capabilities.default_tier,
        execution_expires_after=settings.execution_expires_after,
    )


UNIT = ProviderUnit(
    name="byteplus",
    # 1520757: 4K on the standard model only, fast and mini stop at 720p; duration 4-15 or -1 (auto);
    # ratio adaptive (our auto) or one of six; first frame, first + last frame, or references (up to 9
    # images, 3 videos, 3 audio clips, audio only with an image or a video) - never frames and references
    # together; seed, watermark, return_last_frame; callback_url (unsigned); media as URLs, no upload.
    capabilities=SEEDANCE.differing(
        optional_fields=frozenset({"seed", "watermark", "return_last_frame"}), callbacks=Callbacks.UNSIGNED
    ),
    settings_model=BytePlusSettings,
    setting_defaults={
        "base_url": "https://ark.ap-southeast.bytepluses.com/api/v3",
        # Outputs are TOS objects (ark-content-generation-…tos-ap-southeast-1.bytepluses.com); *.volces.com
        # for Volcengine Ark's.
        "output_hosts": ("*.bytepluses.com", "*.volces.com"),
        # ModelArk's limits for Seedance 2.0 depend on the account: enterprise accounts get 10 concurrent
        # tasks and 600 requests per minute, individual accounts 3 and 180. We default to the individual
        # figures, which every account has; raise BYTEPLUS_MAX_CONCURRENT / _MAX_CREATES_PER_MINUTE for an
        # enterprise account.
        "max_concurrent": 3,
        "max_creates_per_minute": 180,
    },
    build_adapter=_adapter,
    estimate_cost_usd=estimate_cost_usd,
)
