"""An OpenAI-compatible gateway (../shared/provider-docs/gateway-seedance-2.0-video-generations.txt):
no webhook, so jobs are followed by status checks; publishes no prices."""

from __future__ import annotations

from pydantic import SecretStr

from videojobs.ports import VideoProvider
from videojobs.providers.unit import (
    SEEDANCE,
    AdapterContext,
    Callbacks,
    ProviderSettings,
    ProviderUnit,
)


def _adapter(
    settings: ProviderSettings, context: AdapterContext, base_url: str, api_key: SecretStr
) -> VideoProvider:
    from videojobs.providers.gateway.adapter import GatewayProvider

    return GatewayProvider(
        context.client, base_url=base_url, api_key=api_key, default_tier=UNIT.capabilities.default_tier
    )


UNIT = ProviderUnit(
    name="gateway",
    # The eight models, duration 5-15, three aspect ratios, extra_body switches and the compat
    # operations; no webhook, no upload endpoint.
    capabilities=SEEDANCE.differing(
        min_duration=5,
        aspect_ratios=frozenset({"9:16", "1:1", "16:9"}),
        optional_fields=frozenset({"seed", "watermark", "camera_fixed", "return_last_frame"}),
        callbacks=Callbacks.NONE,
        operations=frozenset({"reference_to_video", "edit_video", "extend_video", "first_last_frame"}),
    ),
    settings_model=ProviderSettings,
    # No public host and no limits in the document: the base URL is the deployment's, the pacing ours.
    setting_defaults={"max_concurrent": 5, "max_creates_per_minute": 60},
    build_adapter=_adapter,
)
