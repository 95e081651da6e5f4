"""A provider dialect as one unit: what it can serve, what it costs, its settings and its adapter.

Each dialect is a package ``videojobs.providers.<name>``: its ``__init__`` holds the ``UNIT`` (light:
no httpx, no wire models), its ``adapter`` module the ``VideoProvider``, imported when the first job
needs it. ``videojobs.providers.UNITS`` lists the units; a test holds it equal to ``ProviderName``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, cast

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from videojobs.models import AspectRatio, JobRequest, Operation, ProviderName, Resolution, Tier
from videojobs.ports import Clock, VideoProvider

if TYPE_CHECKING:
    import httpx

ALL_ASPECT_RATIOS: frozenset[AspectRatio] = frozenset({"auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"})


class Callbacks(StrEnum):
    """How a provider tells us a prediction finished."""

    SIGNED = "signed webhook"
    UNSIGNED = "unsigned webhook"
    NONE = "none (status checks)"


@dataclass(frozen=True)
class ProviderCapabilities:
    #: Tier -> resolutions it renders. The first tier is the provider's default.
    tiers: Mapping[Tier, frozenset[Resolution]]
    min_duration: int
    max_duration: int
    aspect_ratios: frozenset[AspectRatio]
    first_frame: bool
    last_frame: bool
    max_reference_images: int
    max_reference_videos: int
    max_reference_audios: int
    #: Optional request fields the dialect has a parameter for.
    optional_fields: frozenset[str]
    callbacks: Callbacks
    #: The provider has an upload endpoint; s3:// inputs go through it instead of a presigned URL.
    uploads: bool
    #: False when the dialect has no generate_audio parameter (audio always on).
    audio_switch: bool = True
    #: Its videos carry an audio track when generate_audio is on (Seedance 2.0's do, at every provider
    #: we list); the transfer checks for one only then.
    makes_audio: bool = True
    #: Whether a first frame may come with reference media. Seedance renders from frames or from
    #: references; only the jobs API's document shows both in one request.
    frames_with_references: bool = False
    operations: frozenset[Operation] = field(default_factory=frozenset)
    #: At most this many media files in one request, when the provider caps the total (fal: 12).
    max_media_files: int | None = None

    @property
    def default_tier(self) -> Tier:
        return next(iter(self.tiers))

    def differing(self, **differences: Any) -> ProviderCapabilities:
        """This row with ``differences``: how a provider's row is written, from ``SEEDANCE``."""
        return replace(self, **differences)

    @property
    def resolutions(self) -> frozenset[Resolution]:
        return frozenset().union(*self.tiers.values())


#: Seedance 2.0 as ByteDance serves it (BytePlus ModelArk, docs.byteplus.com/en/docs/ModelArk/1520757):
#: three tiers (4K on the standard one), 4-15 s, every aspect ratio, a first and a last frame or up to 9
#: reference images, 3 videos and 3 audio clips (audio only beside an image or a video), never frames
#: and references together, and an audio switch. The dialect-side fields (optional parameters, how
#: callbacks come, uploads) are what most of our providers have. Each unit states where it differs.
SEEDANCE = ProviderCapabilities(
    tiers={
        "standard": frozenset({"480p", "720p", "1080p", "4k"}),
        "fast": frozenset({"480p", "720p"}),
        "mini": frozenset({"480p", "720p"}),
    },
    min_duration=4,
    max_duration=15,
    aspect_ratios=ALL_ASPECT_RATIOS,
    first_frame=True,
    last_frame=True,
    max_reference_images=9,
    max_reference_videos=3,
    max_reference_audios=3,
    optional_fields=frozenset({"seed"}),
    callbacks=Callbacks.SIGNED,
    uploads=False,
)


@dataclass(frozen=True)
class KeyLimits:
    """One API key's limits at its provider."""

    max_concurrent: int
    max_creates_per_minute: int


def key_id(api_key: str) -> str:
    """A fingerprint that names an API key in records and logs without revealing it."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:12]


def split_list(value: Any, *, lower: bool = False) -> Any:
    """ "a,b,c" from the environment as a tuple; anything else as given."""
    if isinstance(value, str):
        items = (item.strip() for item in value.split(","))
        return tuple(item.lower() if lower else item for item in items if item)
    return value


class ProviderSettings(BaseModel):
    """One provider's settings. Each is the environment variable ``<PREFIX><FIELD>`` (EACHLABS_BASE_URL)
    or the same key in the secret; a unit names exceptions in ``renamed_settings``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: AnyHttpUrl | None = None
    api_key: SecretStr | None = None
    #: A pool of keys, comma-separated; jobs are spread over them within each key's limits.
    api_keys: tuple[SecretStr, ...] = ()
    #: Hosts output URLs may come from besides the base URL's (comma-separated; ``*.`` wildcards).
    output_hosts: tuple[str, ...] = ()
    max_concurrent: Annotated[int, Field(ge=1, le=1000)] = 5
    max_creates_per_minute: Annotated[int, Field(ge=1, le=100_000)] = 60
    #: The operator's price per output second, for a provider whose unit has no price function.
    price_per_second_usd: Annotated[Decimal, Field(ge=0)] | None = None

    @field_validator("base_url", "api_key", "price_per_second_usd", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        # Keys are case-sensitive: split, never lower-case.
        return split_list(value)

    @field_validator("output_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        return split_list(value, lower=True)

    def base_url_text(self) -> str | None:
        return str(self.base_url).rstrip("/") if self.base_url is not None else None

    def key_pool(self) -> tuple[SecretStr, ...]:
        """The pool (``api_keys``), else the single ``api_key``; no duplicates, no empty keys."""
        keys = self.api_keys or ((self.api_key,) if self.api_key is not None else ())
        unique = {key.get_secret_value(): key for key in keys if key.get_secret_value()}
        return tuple(unique.values())

    def key_limits(self) -> KeyLimits:
        return KeyLimits(self.max_concurrent, self.max_creates_per_minute)


@dataclass(frozen=True)
class AdapterContext:
    """What every adapter is built with besides its own settings: one HTTP client per container."""

    client: httpx.Client
    clock: Clock
    #: How old a signed webhook's timestamp may be.
    max_webhook_age: timedelta


class ProviderSettingsError(ValueError):
    """A provider setting is invalid; the message names the environment variable."""


@dataclass(frozen=True)
class ProviderUnit[S: ProviderSettings]:
    name: ProviderName
    capabilities: ProviderCapabilities
    #: ``ProviderSettings``, or a subclass with the dialect's own settings (ATLASCLOUD_JWKS_URL).
    settings_model: type[S]
    #: Defaults that differ from ProviderSettings' own: base URL, output hosts, pacing.
    setting_defaults: Mapping[str, Any]
    #: Builds the adapter for one API key; imports the adapter module when first called.
    build_adapter: Callable[[S, AdapterContext, str, SecretStr], VideoProvider]
    #: The job's cost from the provider's published prices, or None where the provider publishes none.
    estimate_cost_usd: Callable[[JobRequest], float | None] | None = None
    #: Settings whose name is not ``<name>_<field>`` (the jobs API's key is JOBS_API_KEY).
    renamed_settings: Mapping[str, str] = field(default_factory=dict)

    def setting_name(self, field_name: str) -> str:
        """The setting (lower case) that holds ``field_name``: ``eachlabs_base_url``."""
        return self.renamed_settings.get(field_name, f"{self.name}_{field_name}")

    def setting_names(self) -> tuple[str, ...]:
        return tuple(self.setting_name(field_name) for field_name in self.settings_model.model_fields)

    def read_settings(self, values: Mapping[str, Any]) -> S:
        """The unit's settings from ``values`` (every setting by lower-case name)."""
        given = {
            field_name: values[self.setting_name(field_name)]
            for field_name in self.settings_model.model_fields
            if self.setting_name(field_name) in values
        }
        try:
            return self.settings_model.model_validate({**self.setting_defaults, **given})
        except ValidationError as error:
            problems = "; ".join(
                f"{self.setting_name(str(problem['loc'][0])).upper()}: {problem['msg']}"
                for problem in error.errors()
            )
            raise ProviderSettingsError(problems) from None

    def adapter(
        self, settings: ProviderSettings, context: AdapterContext, base_url: str, api_key: SecretStr
    ) -> VideoProvider:
        return self.build_adapter(cast(S, settings), context, base_url, api_key)
