"""Settings read through Powertools Parameters from the template's Secrets Manager secret on moto."""

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from local.aws import ProvisionedStack
from videojobs.bootstrap import load_settings

REQUIRED = {
    "JOBS_TABLE_NAME": "jobs",
    "VIDEOS_BUCKET_NAME": "videos",
    "EVENT_BUS_NAME": "bus",
    "TRANSFER_QUEUE_URL": "https://sqs.example.com/q",
    "STATUS_CHECK_QUEUE_URL": "https://sqs.example.com/s",
    "DISPATCH_QUEUE_URL": "https://sqs.example.com/d",
    "NOTIFY_QUEUE_URL": "https://sqs.example.com/n",
    "IDEMPOTENCY_TABLE_NAME": "idempotency",
    "PROVIDER_LIMITS_TABLE_NAME": "limits",
}


@pytest.fixture
def lambda_environment(monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> None:
    for name in (
        "WEBHOOK_TOKEN_SECRET",
        "EACHLABS_API_KEY",
        "PUBLIC_BASE_URL",
        "LOCAL_MODE",
        "NOTIFY_SIGNING_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    parameters.clear_caches()


@pytest.mark.usefixtures("lambda_environment")
def test_secret_settings_come_from_the_template_secret(
    monkeypatch: pytest.MonkeyPatch, aws: Any, aws_resources: ProvisionedStack
) -> None:
    arn = aws_resources.refs["PipelineSecrets"]
    stored = json.loads(aws("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    monkeypatch.setenv("SECRETS_NAME", arn)

    settings = load_settings()

    assert settings.webhook_token_secret.get_secret_value() == stored["WEBHOOK_TOKEN_SECRET"]
    assert settings.provider("eachlabs").api_key is not None
    assert settings.provider("eachlabs").api_key.get_secret_value() == "sim-eachlabs-key"
    assert settings.provider("atlascloud").api_key is None  # "" in the secret means not configured
    assert settings.public_base_url is None


@pytest.mark.usefixtures("lambda_environment")
def test_the_environment_wins_over_the_secret(
    monkeypatch: pytest.MonkeyPatch, aws_resources: ProvisionedStack
) -> None:
    monkeypatch.setenv("SECRETS_NAME", aws_resources.refs["PipelineSecrets"])
    monkeypatch.setenv("EACHLABS_API_KEY", "from-env")

    settings = load_settings()

    assert settings.provider("eachlabs").api_key is not None
    assert settings.provider("eachlabs").api_key.get_secret_value() == "from-env"


@pytest.mark.usefixtures("lambda_environment")
def test_the_notify_function_reads_its_signing_key_from_a_second_secret(
    monkeypatch: pytest.MonkeyPatch, aws: Any, aws_resources: ProvisionedStack
) -> None:
    names = [aws_resources.refs["PipelineSecrets"], aws_resources.refs["NotifySigningSecret"]]
    stored = json.loads(aws("secretsmanager").get_secret_value(SecretId=names[1])["SecretString"])
    monkeypatch.setenv("SECRETS_NAME", ",".join(names))

    settings = load_settings()

    assert settings.notify_signing_secret is not None
    generated = settings.notify_signing_secret.get_secret_value()
    assert generated == stored["NOTIFY_SIGNING_SECRET"]
    assert len(generated) == 32
    assert generated.isalnum()  # ExcludePunctuation, as the template asks: valid base64
    assert settings.provider("eachlabs").api_key is not None  # the first secret still counts


@pytest.mark.usefixtures("lambda_environment")
def test_a_missing_required_setting_is_named() -> None:
    with pytest.raises(ValueError, match="webhook_token_secret"):
        load_settings()
