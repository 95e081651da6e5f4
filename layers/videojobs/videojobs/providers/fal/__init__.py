"""fal.ai's queue (https://docs.fal.ai/model-endpoints/queue) in front of Seedance 2.0
(https://fal.ai/models/bytedance/seedance-2.0/...): six endpoints (standard and fast; text, image and
reference to video), Ed25519-signed webhooks checked against fal's JWKS, prices per token."""

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

#: The model pages' "Pricing": tokens = height × width × duration × 24 / 1024, priced per 1000 tokens;
#: $0.014 on the standard endpoints (https://fal.ai/models/bytedance/seedance-2.0/image-to-video:
#: "$0.3024/second" at 720p), $0.0112 on the fast ones
#: (https://fal.ai/models/bytedance/seedance-2.0/fast/text-to-video: "$0.2419/second" at 720p).
USD_PER_1000_TOKENS = {"standard": Decimal("0.014"), "fast": Decimal("0.0112")}
#: Reference-to-video (https://fal.ai/models/bytedance/seedance-2.0/reference-to-video): the tokens
#: count input video seconds too, and "if video inputs are provided the price is multiplied by 0.6".
VIDEO_INPUT_FACTOR = Decimal("0.6")


class FalSettings(ProviderSettings):
    # fal's webhook signing keys, as its page on webhooks has receivers fetch them
    # (https://docs.fal.ai/model-apis/model-endpoints/webhooks, "Verifying Your Webhook").
    jwks_url: AnyHttpUrl = AnyHttpUrl("https://rest.alpha.fal.ai/.well-known/jwks.json")


def estimate_cost_usd(request: JobRequest) -> float | None:
    tokens = video_tokens(request)
    if tokens is None:
        return None
    rate = USD_PER_1000_TOKENS["fast" if request.tier == "fast" else "standard"]
    if request.reference_video_urls:
        rate *= VIDEO_INPUT_FACTOR
    return float(round(tokens * rate / 1000, 4))


def _adapter(
    settings: FalSettings, context: AdapterContext, base_url: str, api_key: SecretStr
) -> VideoProvider:
    from videojobs.providers.fal.adapter import FalProvider

    return FalProvider(
        context.client,
        base_url=base_url,
        api_key=api_key,
        jwks_url=str(settings.jwks_url),
        clock=context.clock,
        max_webhook_age=context.max_webhook_age,
    )


UNIT = ProviderUnit(
    name="fal",
    # The model pages: standard endpoints render 480p/720p/1080p ("access to 1080p output — the only
    # resolution option not available on fast"), fast ones 480p/720p; duration "auto" or "4"-"15";
    # aspect ratio auto or six ratios; image_url/end_image_url; up to 9 images, 3 videos and 3 audio
    # clips, "total files across all modalities must not exceed 12"; seed; signed webhooks; no upload
    # endpoint of the queue's own (fal's CDN upload is a separate API: s3:// inputs go as presigned URLs).
    capabilities=SEEDANCE.differing(
        tiers={"standard": frozenset({"480p", "720p", "1080p"}), "fast": frozenset({"480p", "720p"})},
        max_media_files=12,
    ),
    settings_model=FalSettings,
    setting_defaults={
        "base_url": "https://queue.fal.run",
        # Outputs are served from fal's CDN (https://v3.fal.media/..., https://docs.fal.ai/faq).
        "output_hosts": ("*.fal.media",),
        # https://docs.fal.ai/faq, "Is there a rate limit?": new accounts process 2 requests at once,
        # rising with purchased credits up to 40; requests over the limit wait in fal's queue. fal
        # publishes no limit on submits: 60 a minute is ours.
        "max_concurrent": 2,
        "max_creates_per_minute": 60,
    },
    build_adapter=_adapter,
    estimate_cost_usd=estimate_cost_usd,
)
