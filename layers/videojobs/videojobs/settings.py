"""The pipeline's configuration: one typed object, read once per container."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from videojobs.models import ProviderName

MIB = 1024 * 1024
#: "a,b,c" in the environment (not JSON): split by the validator below.
CommaList = Annotated[tuple[str, ...], NoDecode]


def api_key_setting(provider: ProviderName) -> str:
    """The setting holding a provider's API key: JOBS_API_KEY, not JOBS_API_API_KEY."""
    return "jobs_api_key" if provider == "jobs_api" else f"{provider}_api_key"


class Settings(BaseSettings):
    """Every setting is an environment variable of the same name in upper case.

    Secret settings (API keys, the webhook token secret) may instead come from the JSON secret
    named by ``SECRETS_NAME``; a variable set in the environment wins over the secret.
    """

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    jobs_table_name: str = Field(min_length=1)
    videos_bucket_name: str = Field(min_length=1)
    event_bus_name: str = Field(min_length=1)
    transfer_queue_url: str = Field(min_length=1)
    status_check_queue_url: str = Field(min_length=1)
    idempotency_table_name: str = Field(min_length=1)

    public_base_url: AnyHttpUrl | None = None
    webhook_token_secret: SecretStr = Field(min_length=16)
    secrets_name: str | None = None

    eachlabs_base_url: AnyHttpUrl = AnyHttpUrl("https://api.eachlabs.ai")
    eachlabs_api_key: SecretStr | None = None
    eachlabs_output_hosts: CommaList = ("*.eachlabs.ai", "storage.googleapis.com")
    atlascloud_base_url: AnyHttpUrl = AnyHttpUrl("https://api.atlascloud.ai")
    atlascloud_api_key: SecretStr | None = None
    atlascloud_output_hosts: CommaList = ("*.atlascloud.ai",)
    atlascloud_jwks_url: AnyHttpUrl = AnyHttpUrl("https://api.atlascloud.ai/.well-known/jwks.json")
    gateway_base_url: AnyHttpUrl | None = None
    gateway_api_key: SecretStr | None = None
    gateway_output_hosts: CommaList = ()
    jobs_api_base_url: AnyHttpUrl | None = None
    jobs_api_key: SecretStr | None = None
    jobs_api_output_hosts: CommaList = ()

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
    provider_timeout_seconds: float = Field(default=20.0, gt=0)
    download_timeout_seconds: float = Field(default=60.0, gt=0)
    transfer_part_size_bytes: int = Field(default=8 * MIB, ge=5 * MIB)

    @field_validator(
        "public_base_url", "gateway_base_url", "jobs_api_base_url", "secrets_name", mode="before"
    )
    @classmethod
    def _empty_means_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator(
        "eachlabs_output_hosts",
        "atlascloud_output_hosts",
        "gateway_output_hosts",
        "jobs_api_output_hosts",
        "input_bucket_names",
        mode="before",
    )
    @classmethod
    def _split_comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(host.strip().lower() for host in value.split(",") if host.strip())
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides values passed in (those come from the secret).
        return env_settings, init_settings

    @classmethod
    def load(cls, secret_values: Mapping[str, Any] | None = None) -> Settings:
        values = {key.lower(): value for key, value in (secret_values or {}).items() if value != ""}
        return cls(**values)

    def provider_base_url(self, provider: ProviderName) -> str | None:
        url: AnyHttpUrl | None = getattr(self, f"{provider}_base_url")
        return str(url).rstrip("/") if url is not None else None

    def provider_api_key(self, provider: ProviderName) -> SecretStr | None:
        key: SecretStr | None = getattr(self, api_key_setting(provider))
        return key

    def provider_output_hosts(self, provider: ProviderName) -> tuple[str, ...]:
        hosts: tuple[str, ...] = getattr(self, f"{provider}_output_hosts")
        return hosts
