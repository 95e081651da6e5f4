"""Settings come from the environment variables the README names."""

import pytest

from videojobs.models import PROVIDER_NAMES
from videojobs.settings import Settings


def test_each_providers_key_and_lists_come_from_their_documented_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {
        "JOBS_TABLE_NAME": "jobs",
        "VIDEOS_BUCKET_NAME": "videos",
        "EVENT_BUS_NAME": "bus",
        "TRANSFER_QUEUE_URL": "https://sqs.example.com/t",
        "STATUS_CHECK_QUEUE_URL": "https://sqs.example.com/s",
        "IDEMPOTENCY_TABLE_NAME": "idem",
        "WEBHOOK_TOKEN_SECRET": "0123456789abcdef0123",
        "EACHLABS_API_KEY": "k-each",
        "ATLASCLOUD_API_KEY": "k-atlas",
        "GATEWAY_API_KEY": "k-gw",
        "JOBS_API_KEY": "k-jobs",
        "EACHLABS_OUTPUT_HOSTS": "cdn.one.com, *.two.com",
        "INPUT_BUCKET_NAMES": "in-a,in-b",
    }.items():
        monkeypatch.setenv(name, value)

    settings = Settings.load()

    keys = {name: settings.provider_api_key(name) for name in PROVIDER_NAMES}
    assert {name: key.get_secret_value() for name, key in keys.items() if key} == {
        "eachlabs": "k-each",
        "atlascloud": "k-atlas",
        "gateway": "k-gw",
        "jobs_api": "k-jobs",
    }
    assert settings.eachlabs_output_hosts == ("cdn.one.com", "*.two.com")
    assert settings.input_bucket_names == ("in-a", "in-b")
