"""The composition root: builds the real adapters once per container."""

from __future__ import annotations

import functools
from datetime import timedelta
from urllib.parse import urlsplit

import boto3
import httpx
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from videojobs.adapters.dynamodb import DynamoDBJobStore
from videojobs.adapters.eventbridge import EventBridgePublisher
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.adapters.s3 import S3VideoStore
from videojobs.adapters.sqs import SqsTransferQueue
from videojobs.dependencies import Dependencies
from videojobs.download_policy import HostAllowlist
from videojobs.idempotency import IdempotencyGuard
from videojobs.models import PROVIDER_NAMES, ProviderName, utc_now
from videojobs.ports import DownloadPolicy, VideoProvider
from videojobs.providers.eachlabs import EachLabsProvider
from videojobs.security import WebhookAuthenticator
from videojobs.settings import Settings

SECRET_MAX_AGE_SECONDS = 300


class _SecretsLocation(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    secrets_name: str | None = Field(default=None)


def load_settings() -> Settings:
    """Environment first; secret settings may come from the JSON secret named by SECRETS_NAME."""
    secrets_name = _SecretsLocation().secrets_name
    secret_values = (
        parameters.get_secret(secrets_name, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
        if secrets_name
        else {}
    )
    return Settings.load(secret_values)


def _providers(settings: Settings, client: httpx.Client) -> dict[ProviderName, VideoProvider]:
    providers: dict[ProviderName, VideoProvider] = {}
    eachlabs_key = settings.provider_api_key("eachlabs")
    eachlabs_url = settings.provider_base_url("eachlabs")
    if eachlabs_key is not None and eachlabs_url is not None:
        providers["eachlabs"] = EachLabsProvider(
            client,
            base_url=eachlabs_url,
            api_key=eachlabs_key,
            clock=utc_now,
            max_webhook_age=timedelta(seconds=settings.webhook_max_age_seconds),
        )
    return providers


def _download_policies(settings: Settings) -> dict[ProviderName, DownloadPolicy]:
    policies: dict[ProviderName, DownloadPolicy] = {}
    for name in PROVIDER_NAMES:
        hosts = list(settings.provider_output_hosts(name))
        base_url = settings.provider_base_url(name)
        if base_url and (host := urlsplit(base_url).hostname):
            hosts.append(host)
        policies[name] = HostAllowlist(hosts, allow_loopback=settings.local_mode)
    return policies


@functools.cache
def build_dependencies() -> Dependencies:
    settings = load_settings()
    session = boto3.session.Session()
    aws_config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
    provider_client = httpx.Client(timeout=httpx.Timeout(settings.provider_timeout_seconds, connect=5.0))
    download_client = httpx.Client(
        timeout=httpx.Timeout(settings.download_timeout_seconds, connect=10.0), follow_redirects=False
    )
    dynamodb = session.client("dynamodb", config=aws_config)
    return Dependencies(
        jobs=DynamoDBJobStore(dynamodb, settings.jobs_table_name),
        videos=S3VideoStore(
            session.client("s3", config=aws_config),
            settings.videos_bucket_name,
            part_size=settings.transfer_part_size_bytes,
        ),
        source=HttpVideoSource(download_client),
        transfers=SqsTransferQueue(session.client("sqs", config=aws_config), settings.transfer_queue_url),
        events=EventBridgePublisher(
            session.client("events", config=aws_config), settings.event_bus_name, settings.event_source
        ),
        providers=_providers(settings, provider_client),
        download_policies=_download_policies(settings),
        authenticator=WebhookAuthenticator(settings.webhook_token_secret.get_secret_value().encode()),
        idempotency=IdempotencyGuard.create(
            DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name, boto3_client=dynamodb),
            expires_after_seconds=settings.idempotency_expiry_seconds,
        ),
        clock=utc_now,
        job_retention=timedelta(days=settings.job_retention_days),
        public_base_url=str(settings.public_base_url).rstrip("/") if settings.public_base_url else None,
    )
