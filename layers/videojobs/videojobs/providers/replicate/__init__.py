"""Replicate (https://replicate.com/bytedance/seedance-2.0 and /bytedance/seedance-2.0-fast): official
models run through the HTTP API, webhooks signed the Standard Webhooks way with the account's secret.

Every field and its source page is in docs/provider-dialects.md, "Replicate".
"""

from __future__ import annotations

from pydantic import SecretStr

from videojobs.ports import VideoProvider
from videojobs.providers.unit import (
    SEEDANCE,
    AdapterContext,
    ProviderSettings,
    ProviderUnit,
)


def _adapter(
    settings: ProviderSettings, context: AdapterContext, base_url: str, api_key: SecretStr
) -> VideoProvider:
    from videojobs.providers.replicate.adapter import ReplicateProvider

    return ReplicateProvider(
        context.client,
        base_url=base_url,
        api_key=api_key,
        clock=context.clock,
        max_webhook_age=context.max_webhook_age,
        # The pool's other keys may belong to other accounts, each with its own webhook secret.
        pool=settings.key_pool(),
    )


UNIT = ProviderUnit(
    name="replicate",
    # The models' input schemas (their API pages on replicate.com, see the docs): resolution
    # 480p/720p, and on seedance-2.0 also 1080p and 4k ("4K outputs 10-bit H.265/HEVC"); duration -1
    # ("intelligent") or up to 15, of which we offer Seedance's 4-15 and send -1 for auto; aspect_ratio
    # with "adaptive" for our auto; image and last_frame_image, which "cannot be combined with
    # reference images"; up to 9 reference images, 3 videos and 3 audio clips; seed. No upload
    # endpoint is needed: inputs are HTTP URLs.
    capabilities=SEEDANCE.differing(
        tiers={"standard": frozenset({"480p", "720p", "1080p", "4k"}), "fast": frozenset({"480p", "720p"})},
    ),
    settings_model=ProviderSettings,
    setting_defaults={
        "base_url": "https://api.replicate.com",
        # predictions.get: "Output files are served by replicate.delivery and its subdomains".
        "output_hosts": ("replicate.delivery", "*.replicate.delivery"),
        # replicate.com/docs/topics/predictions/rate-limits: "You can create predictions at 600 requests
        # per minute". Concurrency is not limited there: 5 at once is ours, deliberately modest.
        "max_concurrent": 5,
        "max_creates_per_minute": 600,
    },
    build_adapter=_adapter,
    # Replicate bills these models by output, but no price page of Replicate's could be read in the
    # stored public sources (only third parties quoting figures): no estimate rather than a guess.
    estimate_cost_usd=None,
)
