"""A generic jobs API (../shared/provider-docs/jobs-api-seedance-2.0-text-to-video.txt): unsigned
callbacks, confirmed by a status read; an upload endpoint; publishes no prices."""

from __future__ import annotations

from pydantic import SecretStr

from videojobs.ports import VideoProvider
from videojobs.providers.unit import (
    ALL_ASPECT_RATIOS,
    SEEDANCE,
    AdapterContext,
    Callbacks,
    ProviderSettings,
    ProviderUnit,
)


def _adapter(
    settings: ProviderSettings, context: AdapterContext, base_url: str, api_key: SecretStr
) -> VideoProvider:
    from videojobs.providers.jobs_api.adapter import JobsApiProvider

    return JobsApiProvider(context.client, base_url=base_url, api_key=api_key)


UNIT = ProviderUnit(
    name="jobs_api",
    # Its input schema has frames, reference images and videos, resolution, duration, aspect_ratio,
    # seed and callback_url; no audio switch; files/upload.
    capabilities=SEEDANCE.differing(
        tiers={"standard": frozenset({"480p", "720p", "1080p"})},
        aspect_ratios=ALL_ASPECT_RATIOS - {"auto"},
        max_reference_audios=0,
        callbacks=Callbacks.UNSIGNED,
        uploads=True,
        audio_switch=False,
        frames_with_references=True,
    ),
    settings_model=ProviderSettings,
    setting_defaults={"max_concurrent": 5, "max_creates_per_minute": 60},
    build_adapter=_adapter,
    # JOBS_API_KEY, not JOBS_API_API_KEY.
    renamed_settings={"api_key": "jobs_api_key", "api_keys": "jobs_api_keys"},
)
