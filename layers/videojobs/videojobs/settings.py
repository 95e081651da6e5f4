"""The pipeline's configuration: one typed object, read once per container.

A plain pydantic model over the environment: pydantic-settings would do the same reading and cost
every function's cold start tens of milliseconds more to import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from videojobs.models import BudgetUnpriced, OutputMismatch, ProviderChoice, ProviderName
from videojobs.providers import UNITS
from videojobs.providers.unit import KeyLimits, ProviderSettings, key_id, split_list

__all__ = [
    "KeyLimits",
    "Settings",
    "api_key_setting",
    "api_keys_setting",
    "key_id",
    "key_setting_names",
    "setting_names",
]

MIB = 1024 * 1024
#: "a,b,c" in the environment (not JSON): split by the validators below.
CommaList = tuple[str, ...]
IntList = tuple[int, ...]


def api_key_setting(provider: ProviderName) -> str:
    """The setting holding a provider's API key: JOBS_API_KEY, not JOBS_API_API_KEY."""
    return UNITS[provider].setting_name("api_key")


def api_keys_setting(provider: ProviderName) -> str:
    """The setting holding a pool of the provider's API keys, comma-separated: JOBS_API_KEYS."""
    return UNITS[provider].setting_name("api_keys")


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment by lower-case name: a setting's variable may be spelled in any case."""
    return {name.lower(): value for name, value in (os.environ if environ is None else environ).items()}


class Settings(BaseModel):
    """Every setting is an environment variable of the same name in upper case.

    Secret settings (API keys, the webhook token secret) may instead come from the JSON secret
    named by ``SECRETS_NAME``; a variable set in the environment wins over the secret. An empty
    variable is unset: template.yaml declares every setting (``sam local`` passes a function only
    the variables it declares), most of them empty, and those must neither hide the secret's value
    nor replace a default.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    jobs_table_name: str = Field(min_length=1)
    videos_bucket_name: str = Field(min_length=1)
    event_bus_name: str = Field(min_length=1)
    transfer_queue_url: str = Field(min_length=1)
    status_check_queue_url: str = Field(min_length=1)
    dispatch_queue_url: str = Field(min_length=1)
    notify_queue_url: str = Field(min_length=1)
    idempotency_table_name: str = Field(min_length=1)
    provider_limits_table_name: str = Field(min_length=1)

    public_base_url: AnyHttpUrl | None = None
    #: "current" or "current,previous" during a rotation; each at least 16 characters. Required, unless
    #: the settings are loaded with ``keys_later`` (see ``load``).
    webhook_token_secret: SecretStr | None = Field(default=None, min_length=16)
    #: How long after a job's maximum age its provider may still retry a webhook.
    webhook_retry_window_seconds: int = Field(default=86400, ge=0)
    secrets_name: str | None = None

    #: Each provider's settings (EACHLABS_BASE_URL, ...), named by its unit: see ``videojobs.providers``.
    providers: Mapping[ProviderName, ProviderSettings] = Field(default_factory=dict)

    local_mode: bool = False
    event_source: str = "seedance.video-pipeline"
    job_retention_days: int = Field(default=30, ge=1)
    idempotency_expiry_seconds: int = Field(default=86400, ge=60)
    webhook_max_age_seconds: int = Field(default=300, ge=1)
    status_check_first_delay_seconds: int = Field(default=120, ge=1)
    status_check_max_delay_seconds: int = Field(default=600, ge=1)
    job_max_age_seconds: int = Field(default=7200, ge=1)
    #: Buckets an s3:// input may come from (comma-separated); empty means none.
    input_bucket_names: CommaList = ()
    input_url_expiry_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)
    #: POST /uploads: the largest file a caller may declare (S3 takes at most 5 GiB in one PUT).
    max_upload_bytes: int = Field(default=50 * MIB, ge=1, le=5 * 1024 * MIB)
    #: GET /jobs/{job_id}/video and /last-frame: how long the presigned GET they redirect to lives.
    output_url_expiry_seconds: int = Field(default=900, ge=60, le=7 * 24 * 3600)
    provider_timeout_seconds: float = Field(default=20.0, gt=0)
    download_timeout_seconds: float = Field(default=60.0, gt=0)
    transfer_part_size_bytes: int = Field(default=8 * MIB, ge=5 * MIB)
    #: Parts uploading while the next one downloads; the transfer holds this many parts plus one.
    transfer_parts_in_flight: int = Field(default=2, ge=1, le=8)
    #: The largest output the transfer copies; Content-Length is checked first and the stream counted.
    max_video_bytes: int = Field(default=2048 * MIB, ge=MIB)
    #: The whole download, not only the gap between reads; below the transfer function's 300 s timeout.
    transfer_deadline_seconds: float = Field(default=270.0, gt=0, le=900)
    #: The largest moov box the transfer keeps while reading an MP4; a larger one makes the file broken.
    max_moov_bytes: int = Field(default=32 * MIB, ge=64 * 1024, le=512 * MIB)
    #: A video that differs from its request: "flag" (recorded, the job succeeds) or "fail".
    output_mismatch: OutputMismatch = OutputMismatch.FLAG

    dispatch_max_attempts: int = Field(default=6, ge=1, le=50)
    dispatch_backoff_base_seconds: float = Field(default=5.0, gt=0)
    dispatch_backoff_max_seconds: float = Field(default=300.0, gt=0, le=900)
    #: A create that got no answer: how long to wait for the job's webhook before sending it again.
    #: Webhooks come when a job finishes, so this is longer than a typical job (EachLabs: 120-150 s).
    dispatch_uncertain_grace_seconds: int = Field(default=900, ge=1)
    dispatch_capacity_retry_seconds: int = Field(default=10, ge=1, le=900)

    #: Providers without a cost estimate are tried in this order, after those with one; comma-separated,
    #: and the providers it leaves out come after it in the catalog's order.
    routing_order: tuple[ProviderName, ...] = tuple(UNITS)
    #: A job whose first candidate has no free slot goes to the next candidate that has one.
    routing_spillover: bool = False
    #: A provider's own "failed" (the video was not made) moves the job to its next candidate.
    failover_on_provider_failure: bool = True
    #: Consecutive failed creates (no answer, 5xx) that open a provider's breaker.
    breaker_failure_threshold: int = Field(default=5, ge=1, le=1000)
    #: How long an open breaker refuses creates before it lets one through.
    breaker_open_seconds: int = Field(default=60, ge=1, le=86_400)
    #: How long a key refused for its account (401, 402, 403) stays out of use.
    key_bench_seconds: int = Field(default=900, ge=1, le=7 * 86_400)

    #: POST /jobs bodies over this are 413, before they are parsed.
    max_request_bytes: int = Field(default=256 * 1024, ge=1024, le=6 * MIB)
    #: Webhook bodies over this are 413, before they are parsed (a prediction is a few KiB).
    max_webhook_bytes: int = Field(default=1 * MIB, ge=1024, le=6 * MIB)

    #: A provider's name, or "auto".
    drop_default_provider: ProviderChoice | None = None
    drop_default_prompt: str | None = None
    max_drop_bytes: int = Field(default=1 * MIB, ge=1024, le=64 * MIB)

    #: Spending ceilings in USD per UTC day, per UTC month and per end user per UTC day; None: none.
    budget_daily_usd: Annotated[Decimal, Field(ge=0)] | None = None
    budget_monthly_usd: Annotated[Decimal, Field(ge=0)] | None = None
    budget_per_end_user_daily_usd: Annotated[Decimal, Field(ge=0)] | None = None
    #: What a job without a cost estimate does while a ceiling applies to it.
    budget_unpriced: BudgetUnpriced = BudgetUnpriced.REFUSE

    notify_signing_secret: SecretStr | None = None
    notify_retry_delays_seconds: IntList = (5, 300, 1800, 7200, 18000, 36000)
    notify_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _read_provider_settings(cls, values: Any) -> Any:
        if not isinstance(values, Mapping) or "providers" in values:
            return values
        providers = {name: unit.read_settings(values) for name, unit in UNITS.items()}
        return {**values, "providers": providers}

    @field_validator(
        "public_base_url",
        "secrets_name",
        "drop_default_provider",
        "drop_default_prompt",
        "notify_signing_secret",
        "budget_daily_usd",
        "budget_monthly_usd",
        "budget_per_end_user_daily_usd",
        mode="before",
    )
    @classmethod
    def _empty_means_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("budget_unpriced", "output_mismatch", mode="before")
    @classmethod
    def _lower_case_word(cls, value: Any, info: ValidationInfo) -> Any:
        if value == "":
            return cls.model_fields[info.field_name or ""].default
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("notify_retry_delays_seconds", mode="before")
    @classmethod
    def _split_values(cls, value: Any) -> Any:
        return split_list(value)

    @field_validator("notify_retry_delays_seconds")
    @classmethod
    def _positive_delays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(delay < 1 for delay in value):
            raise ValueError("every delay must be at least 1 second")
        return value

    @field_validator("routing_order", mode="before")
    @classmethod
    def _split_providers(cls, value: Any) -> Any:
        return split_list(value, lower=True)

    @field_validator("routing_order")
    @classmethod
    def _every_provider_once(cls, value: tuple[ProviderName, ...]) -> tuple[ProviderName, ...]:
        if len(set(value)) != len(value):
            raise ValueError("must name each provider once")
        return (*value, *(name for name in UNITS if name not in value))

    @field_validator("input_bucket_names", mode="before")
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        return split_list(value, lower=True)

    @classmethod
    def load(
        cls,
        secret_values: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        keys_later: bool = False,
    ) -> Settings:
        """Each setting from its environment variable; failing that, from ``secret_values``; failing
        that, its default. In both, "" means unset.

        With ``keys_later``, the keys (``key_setting_names``) may be missing: these settings are the
        environment's alone, for what needs no key, and the secrets are read when a key is first
        needed (``bootstrap``). Their keys, if any, are only those set in the environment."""
        values = {key.lower(): value for key, value in (secret_values or {}).items() if value != ""}
        known = set(setting_names())
        values.update(
            (name, value)
            for name, value in environment_values(environ).items()
            if name in known and value != ""
        )
        return cls.model_validate(values, context={"keys_later": keys_later})

    @field_validator("webhook_token_secret")
    @classmethod
    def _each_secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and any(len(part.strip()) < 16 for part in value.get_secret_value().split(",")):
            raise ValueError("each webhook token secret must be at least 16 characters")
        return value

    @model_validator(mode="after")
    def _webhook_token_secret_given(self, info: ValidationInfo) -> Settings:
        if self.webhook_token_secret is None and not (info.context or {}).get("keys_later"):
            raise ValueError(
                "webhook_token_secret: field required (WEBHOOK_TOKEN_SECRET, in the environment or the"
                " SECRETS_NAME secret)"
            )
        return self

    def webhook_token_lifetime(self) -> timedelta:
        """How long a webhook token lives: the job's maximum age, then the provider's retry window."""
        return timedelta(seconds=self.job_max_age_seconds + self.webhook_retry_window_seconds)

    def webhook_token_secrets(self) -> list[bytes]:
        """The current secret first, then the previous one if a rotation is under way."""
        if self.webhook_token_secret is None:
            raise ValueError(
                "these settings were loaded without their keys: WEBHOOK_TOKEN_SECRET is not read"
            )
        return [part.strip().encode() for part in self.webhook_token_secret.get_secret_value().split(",")]

    def provider(self, name: ProviderName) -> ProviderSettings:
        return self.providers.get(name) or UNITS[name].read_settings({})

    def provider_base_url(self, name: ProviderName) -> str | None:
        return self.provider(name).base_url_text()

    def provider_api_keys(self, name: ProviderName) -> tuple[SecretStr, ...]:
        """The key pool (``<PROVIDER>_API_KEYS``), else the single ``<PROVIDER>_API_KEY``; no duplicates."""
        return self.provider(name).key_pool()

    def provider_key_limits(self, name: ProviderName) -> KeyLimits:
        return self.provider(name).key_limits()

    def provider_output_hosts(self, name: ProviderName) -> tuple[str, ...]:
        return self.provider(name).output_hosts


def key_setting_names() -> frozenset[str]:
    """The settings that hold keys (lower case): what the SECRETS_NAME secrets are for. The template's
    secrets hold these and nothing else."""
    providers = (unit.setting_name(field) for unit in UNITS.values() for field in ("api_key", "api_keys"))
    return frozenset({"webhook_token_secret", "notify_signing_secret", *providers})


def setting_names() -> list[str]:
    """Every setting's name (lower case): the pipeline's own, then each provider's."""
    own = [name for name in Settings.model_fields if name != "providers"]
    return own + [name for unit in UNITS.values() for name in unit.setting_names()]
