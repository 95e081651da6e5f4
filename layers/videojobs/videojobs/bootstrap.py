"""The composition root: builds the real adapters once per container."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import boto3
import httpx
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from videojobs.adapters.capacity import DynamoDBCapacity, KeyPool
from videojobs.adapters.dynamodb import DynamoDBJobStore
from videojobs.adapters.eventbridge import EventBridgePublisher
from videojobs.adapters.http_notifier import HttpCallerNotifier
from videojobs.adapters.http_source import HttpVideoSource
from videojobs.adapters.pinned_http import pinned_client
from videojobs.adapters.s3 import S3InputMedia, S3VideoStore
from videojobs.adapters.sqs import (
    SqsDispatchQueue,
    SqsNotificationRetries,
    SqsStatusChecks,
    SqsTransferQueue,
)
from videojobs.dependencies import (
    Dependencies,
    DispatchPolicy,
    InputPolicy,
    IntakePolicy,
    NotifyPolicy,
    StatusCheckPolicy,
)
from videojobs.download_policy import HostAllowlist
from videojobs.idempotency import IdempotencyGuard
from videojobs.models import PROVIDER_NAMES, ProviderName, utc_now
from videojobs.ports import DownloadPolicy, VideoProvider
from videojobs.providers.atlascloud import AtlasCloudProvider
from videojobs.providers.eachlabs import EachLabsProvider
from videojobs.providers.gateway import GatewayProvider
from videojobs.providers.jobs_api import JobsApiProvider
from videojobs.security import WebhookAuthenticator
from videojobs.settings import Settings, key_id

SECRET_MAX_AGE_SECONDS = 300


class _SecretsLocation(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    secrets_name: str | None = Field(default=None)


def load_settings() -> Settings:
    """Environment first; secret settings may come from the JSON secrets named by SECRETS_NAME
    (comma-separated; a later secret wins over an earlier one)."""
    names = [name.strip() for name in (_SecretsLocation().secrets_name or "").split(",") if name.strip()]
    secret_values: dict[str, object] = {}
    for name in names:
        secret_values.update(parameters.get_secret(name, transform="json", max_age=SECRET_MAX_AGE_SECONDS))
    return Settings.load(secret_values)


def _providers(settings: Settings, client: httpx.Client) -> dict[ProviderName, dict[str, VideoProvider]]:
    """Per provider whose base URL and API key(s) are configured, one adapter per key, by key id."""
    max_webhook_age = timedelta(seconds=settings.webhook_max_age_seconds)
    builders: dict[ProviderName, Callable[[str, SecretStr], VideoProvider]] = {
        "eachlabs": lambda base_url, api_key: EachLabsProvider(
            client, base_url=base_url, api_key=api_key, clock=utc_now, max_webhook_age=max_webhook_age
        ),
        "atlascloud": lambda base_url, api_key: AtlasCloudProvider(
            client,
            base_url=base_url,
            api_key=api_key,
            jwks_url=str(settings.atlascloud_jwks_url),
            clock=utc_now,
            max_webhook_age=max_webhook_age,
        ),
        "gateway": lambda base_url, api_key: GatewayProvider(client, base_url=base_url, api_key=api_key),
        "jobs_api": lambda base_url, api_key: JobsApiProvider(client, base_url=base_url, api_key=api_key),
    }
    providers: dict[ProviderName, dict[str, VideoProvider]] = {}
    for name, build in builders.items():
        base_url = settings.provider_base_url(name)
        keys = settings.provider_api_keys(name)
        if base_url is not None and keys:
            providers[name] = {key_id(key.get_secret_value()): build(base_url, key) for key in keys}
    return providers


def _key_pools(settings: Settings) -> dict[ProviderName, KeyPool]:
    return {
        name: KeyPool(
            key_ids=[key_id(key.get_secret_value()) for key in settings.provider_api_keys(name)],
            limits=settings.provider_key_limits(name),
        )
        for name in PROVIDER_NAMES
    }


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
    download_client = pinned_client(
        timeout=httpx.Timeout(settings.download_timeout_seconds, connect=10.0),
        allow_loopback=settings.local_mode,
    )
    dynamodb = session.client("dynamodb", config=aws_config)
    # SigV4 for presigned input URLs: botocore may otherwise sign them with the legacy SigV2.
    s3 = session.client("s3", config=aws_config.merge(Config(signature_version="s3v4")))
    sqs = session.client("sqs", config=aws_config)
    notify_client = pinned_client(
        timeout=httpx.Timeout(settings.notify_timeout_seconds, connect=5.0),
        allow_loopback=settings.local_mode,
    )
    # A slot outlives any job that holds it: a crashed holder's slot is back after this.
    lease_seconds = settings.job_max_age_seconds + settings.dispatch_uncertain_grace_seconds + 900
    notify_secret = settings.notify_signing_secret
    return Dependencies(
        jobs=DynamoDBJobStore(dynamodb, settings.jobs_table_name),
        videos=S3VideoStore(s3, settings.videos_bucket_name, part_size=settings.transfer_part_size_bytes),
        source=HttpVideoSource(
            download_client,
            max_bytes=settings.max_video_bytes,
            deadline_seconds=settings.transfer_deadline_seconds,
        ),
        transfers=SqsTransferQueue(sqs, settings.transfer_queue_url),
        status_checks=SqsStatusChecks(sqs, settings.status_check_queue_url),
        inputs=S3InputMedia(s3),
        events=EventBridgePublisher(
            session.client("events", config=aws_config), settings.event_bus_name, settings.event_source
        ),
        providers=_providers(settings, provider_client),
        download_policies=_download_policies(settings),
        authenticator=WebhookAuthenticator(
            settings.webhook_token_secrets(),
            lifetime=timedelta(seconds=settings.job_max_age_seconds + settings.webhook_retry_window_seconds),
        ),
        idempotency=IdempotencyGuard.create(
            DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name, boto3_client=dynamodb),
            expires_after_seconds=settings.idempotency_expiry_seconds,
        ),
        clock=utc_now,
        job_retention=timedelta(days=settings.job_retention_days),
        public_base_url=str(settings.public_base_url).rstrip("/") if settings.public_base_url else None,
        status_check_policy=StatusCheckPolicy(
            first_delay_seconds=settings.status_check_first_delay_seconds,
            max_delay_seconds=settings.status_check_max_delay_seconds,
            job_max_age_seconds=settings.job_max_age_seconds,
        ),
        input_policy=InputPolicy(
            buckets=frozenset(settings.input_bucket_names),
            url_expiry_seconds=settings.input_url_expiry_seconds,
        ),
        dispatches=SqsDispatchQueue(sqs, settings.dispatch_queue_url),
        capacity=DynamoDBCapacity(
            dynamodb, settings.provider_limits_table_name, _key_pools(settings), lease_seconds=lease_seconds
        ),
        dispatch_policy=DispatchPolicy(
            max_attempts=settings.dispatch_max_attempts,
            backoff_base_seconds=settings.dispatch_backoff_base_seconds,
            backoff_max_seconds=settings.dispatch_backoff_max_seconds,
            uncertain_grace_seconds=settings.dispatch_uncertain_grace_seconds,
            capacity_retry_seconds=settings.dispatch_capacity_retry_seconds,
        ),
        intake_policy=IntakePolicy(
            drop_default_provider=settings.drop_default_provider,
            drop_default_prompt=settings.drop_default_prompt,
            max_drop_bytes=settings.max_drop_bytes,
            allow_loopback_urls=settings.local_mode,
            max_request_bytes=settings.max_request_bytes,
        ),
        notifier=HttpCallerNotifier(notify_client),
        notification_retries=SqsNotificationRetries(sqs, settings.notify_queue_url),
        notify_policy=NotifyPolicy(retry_delays_seconds=settings.notify_retry_delays_seconds),
        notify_signing_secret=notify_secret.get_secret_value() if notify_secret else None,
        max_webhook_bytes=settings.max_webhook_bytes,
    )
