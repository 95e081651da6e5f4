"""Settings come from the environment variables the configuration table (docs/configuration.md) names."""

import pytest

from tests.support import REQUIRED_SETTINGS as REQUIRED
from videojobs.providers import UNITS
from videojobs.settings import KeyLimits, Settings, key_id, setting_names


def test_each_providers_key_and_lists_come_from_their_documented_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        **REQUIRED,
        "EACHLABS_API_KEY": "k-each",
        "ATLASCLOUD_API_KEY": "k-atlas",
        "GATEWAY_API_KEY": "k-gw",
        "JOBS_API_KEY": "k-jobs",
        "FAL_API_KEY": "k-fal",
        "REPLICATE_API_KEY": "k-replicate",
        "BYTEPLUS_API_KEY": "k-byteplus",
        "EACHLABS_OUTPUT_HOSTS": "cdn.one.com, *.two.com",
        "INPUT_BUCKET_NAMES": "in-a,in-b",
    }.items():
        monkeypatch.setenv(name, value)

    settings = Settings.load()

    keys = {name: settings.provider_api_keys(name) for name in UNITS}
    assert {name: [key.get_secret_value() for key in pool] for name, pool in keys.items()} == {
        "eachlabs": ["k-each"],
        "atlascloud": ["k-atlas"],
        "gateway": ["k-gw"],
        "jobs_api": ["k-jobs"],
        "fal": ["k-fal"],
        "replicate": ["k-replicate"],
        "byteplus": ["k-byteplus"],
    }
    assert settings.provider_output_hosts("eachlabs") == ("cdn.one.com", "*.two.com")
    assert settings.input_bucket_names == ("in-a", "in-b")


def test_a_key_pool_replaces_the_single_key_and_each_key_has_the_documented_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EACHLABS_API_KEY", "single")
    monkeypatch.setenv("EACHLABS_API_KEYS", "Key-A, key-b,Key-A")
    monkeypatch.setenv("GATEWAY_MAX_CONCURRENT", "2")

    settings = Settings.load()

    assert [key.get_secret_value() for key in settings.provider_api_keys("eachlabs")] == ["Key-A", "key-b"]
    assert settings.provider_key_limits("eachlabs") == KeyLimits(
        max_concurrent=10, max_creates_per_minute=100
    )
    assert settings.provider_key_limits("gateway") == KeyLimits(max_concurrent=2, max_creates_per_minute=60)
    assert key_id("Key-A") != key_id("key-b")
    assert "Key-A" not in key_id("Key-A")


def test_an_empty_variable_is_unset_so_the_secret_or_the_default_applies() -> None:
    """template.yaml declares every setting, most of them empty, because `sam local` passes a function
    only what it declares: an empty one must not hide the secret's key nor replace a default."""
    every_setting_empty = {name.upper(): "" for name in setting_names()}
    secret = {"WEBHOOK_TOKEN_SECRET": "from-the-secret-0123", "EACHLABS_API_KEY": "k-secret"}

    settings = Settings.load(secret, environ={**every_setting_empty, **REQUIRED, "WEBHOOK_TOKEN_SECRET": ""})

    assert settings.webhook_token_secret.get_secret_value() == "from-the-secret-0123"
    assert [key.get_secret_value() for key in settings.provider_api_keys("eachlabs")] == ["k-secret"]
    assert settings.webhook_max_age_seconds == Settings.model_fields["webhook_max_age_seconds"].default
    assert settings.provider_base_url("eachlabs") == "https://api.eachlabs.ai"
    assert settings.provider_key_limits("eachlabs") == KeyLimits(
        max_concurrent=10, max_creates_per_minute=100
    )
    assert settings.routing_order == tuple(UNITS)


def test_the_settings_without_their_keys_are_the_environments_and_refuse_a_key() -> None:
    """What a function reads before it needs a key: everything but WEBHOOK_TOKEN_SECRET may be there."""
    environment = {name: value for name, value in REQUIRED.items() if name != "WEBHOOK_TOKEN_SECRET"}

    settings = Settings.load(environ={**environment, "JOB_MAX_AGE_SECONDS": "600"}, keys_later=True)

    assert settings.job_max_age_seconds == 600
    assert settings.webhook_token_secret is None
    with pytest.raises(ValueError, match="WEBHOOK_TOKEN_SECRET"):
        settings.webhook_token_secrets()
    with pytest.raises(ValueError, match="webhook_token_secret"):
        Settings.load(environ=environment)
