"""The composition root: the real adapters, each built once per container, when a function first uses it.

A function loads and connects only the ports its logic touches: each port's adapter module (and the
library under it) is imported, and its client made, the first time the port is used. The status
function never loads httpx or a provider adapter; the transfer function never loads a provider adapter
or the idempotency store. A provider's adapter module is imported when a job first needs that provider.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
from aws_lambda_powertools.utilities import parameters
from botocore.config import Config
from pydantic import SecretStr

from videojobs.cursors import ListCursors
from videojobs.dependencies import (
    BudgetPolicy,
    Dependencies,
    DispatchPolicy,
    InputPolicy,
    IntakePolicy,
    NotifyPolicy,
    OutputPolicy,
    RoutingPolicy,
    StatusCheckPolicy,
    UploadPolicy,
)
from videojobs.download_policy import HostAllowlist
from videojobs.models import ProviderName, utc_now
from videojobs.ports import (
    CallerNotifier,
    Clock,
    DispatchQueue,
    DownloadPolicy,
    EventPublisher,
    InputMedia,
    JobStore,
    NotificationRetries,
    ProviderCapacity,
    ProviderHealth,
    SpendingLedger,
    StatusChecks,
    TransferQueue,
    VideoProvider,
    VideoSource,
    VideoStore,
)
from videojobs.pricing import usd_micros
from videojobs.providers import UNITS
from videojobs.providers.unit import AdapterContext
from videojobs.security import WebhookAuthenticator
from videojobs.settings import Settings, environment_values, key_id, key_setting_names

if TYPE_CHECKING:
    import httpx
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from videojobs.idempotency import IdempotencyGuard

SECRET_MAX_AGE_SECONDS = 300
#: Every AWS client's: standard retries, and timeouts well inside the functions' own.
AWS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


#: How long a half-open breaker's one create may take before another job probes instead: longer than
#: the submit function's timeout (120 s), so two probes never run at once.
PROBE_LEASE_SECONDS = 150


def read_keys(session: boto3.session.Session | None = None) -> dict[str, object]:
    """The keys (``key_setting_names``) in the JSON secrets named by SECRETS_NAME (comma-separated; a
    later secret wins over an earlier one), read through ``session``: the one the ports use, so that a
    cold start makes one botocore session, not one for Powertools and one for us. Anything else a
    secret holds is not a key and is left out: every other setting is the environment's."""
    listed = environment_values().get("secrets_name")
    names = [name.strip() for name in listed.split(",") if name.strip()] if listed else []
    keys: dict[str, object] = {}
    if names:
        client = (session or boto3.session.Session()).client("secretsmanager", config=AWS_CONFIG)
        secrets = parameters.SecretsProvider(boto3_client=client)
        wanted = key_setting_names()
        for name in names:
            value = secrets.get(name, transform="json", max_age=SECRET_MAX_AGE_SECONDS)
            if not isinstance(value, dict):
                raise ValueError(f"the secret {name} does not hold a JSON object")
            keys.update((key, item) for key, item in value.items() if key.lower() in wanted)
    return keys


def load_settings(session: boto3.session.Session | None = None) -> Settings:
    """Every setting: the environment's, and the keys from the secrets (``read_keys``)."""
    return Settings.load(read_keys(session))


@functools.cache
def aws_session() -> boto3.session.Session:
    """The container's one boto3 session: every client and the secrets' reader come from it. A session
    holds no credentials and opens no connection until a client is made and used."""
    return boto3.session.Session()


@functools.cache
def build_dependencies() -> Dependencies:
    """The ports, with the environment's settings: the secrets are read the first time a port or a
    value needs a key (a provider's API key, the webhook token secret, the notify signing key), so a
    function whose invocation needs none (reading a job, presigning an upload, storing a video, ending
    a dead-lettered job) never reads them."""
    return _Ports(Settings.load(keys_later=True), aws_session())


def _once[T](build: Callable[[_Ports], T]) -> cached_property[T]:
    """A port built on first use, under the container's lock: one boto3 session is not safe to use
    from several threads at once, and the local stack runs a function's invocations side by side."""

    @functools.wraps(build)
    def build_once(ports: _Ports) -> T:
        with ports._lock:
            if build.__name__ not in ports.__dict__:
                ports.__dict__[build.__name__] = build(ports)
            built: T = ports.__dict__[build.__name__]
            return built

    return cached_property(build_once)


class _Ports(Dependencies):
    """The real ports. Each is built (and its adapter module imported) the first time it is used,
    then kept in the instance like any dataclass field."""

    def __init__(self, settings: Settings, session: boto3.session.Session | None = None) -> None:
        #: The environment's settings: not the keys, which only ``_keyed`` holds.
        self._settings = settings
        self._lock = threading.RLock()
        if session is not None:
            self.__dict__["_session"] = session

    def __repr__(self) -> str:
        return f"{type(self).__name__}(built={sorted(name for name in vars(self) if name[0] != '_')})"

    @_once
    def _keyed(self) -> Settings:
        """Every setting, the keys included: the secrets are read here, the first time a key is needed."""
        return load_settings(self._session)

    # -- AWS clients, shared by the ports on one service --------------------------------------------
    @_once
    def _session(self) -> boto3.session.Session:
        return boto3.session.Session()

    @_once
    def _dynamodb(self) -> DynamoDBClient:
        return self._session.client("dynamodb", config=AWS_CONFIG)

    @_once
    def _s3(self) -> S3Client:
        # SigV4 for presigned input URLs: botocore may otherwise sign them with the legacy SigV2.
        return self._session.client("s3", config=AWS_CONFIG.merge(Config(signature_version="s3v4")))

    @_once
    def _sqs(self) -> SQSClient:
        return self._session.client("sqs", config=AWS_CONFIG)

    # -- ports on AWS --------------------------------------------------------------------------------
    @_once
    def jobs(self) -> JobStore:
        from videojobs.adapters.dynamodb import DynamoDBJobStore

        return DynamoDBJobStore(self._dynamodb, self._settings.jobs_table_name)

    @_once
    def videos(self) -> VideoStore:
        from videojobs.adapters.s3 import S3VideoStore

        settings = self._settings
        return S3VideoStore(
            self._s3,
            settings.videos_bucket_name,
            part_size=settings.transfer_part_size_bytes,
            parts_in_flight=settings.transfer_parts_in_flight,
        )

    @_once
    def inputs(self) -> InputMedia:
        from videojobs.adapters.s3 import S3InputMedia

        return S3InputMedia(self._s3)

    @_once
    def transfers(self) -> TransferQueue:
        from videojobs.adapters.sqs import SqsTransferQueue

        return SqsTransferQueue(self._sqs, self._settings.transfer_queue_url)

    @_once
    def status_checks(self) -> StatusChecks:
        from videojobs.adapters.sqs import SqsStatusChecks

        return SqsStatusChecks(self._sqs, self._settings.status_check_queue_url)

    @_once
    def dispatches(self) -> DispatchQueue:
        from videojobs.adapters.sqs import SqsDispatchQueue

        return SqsDispatchQueue(self._sqs, self._settings.dispatch_queue_url)

    @_once
    def notification_retries(self) -> NotificationRetries:
        from videojobs.adapters.sqs import SqsNotificationRetries

        return SqsNotificationRetries(self._sqs, self._settings.notify_queue_url)

    @_once
    def events(self) -> EventPublisher:
        from videojobs.adapters.eventbridge import EventBridgePublisher

        settings = self._settings
        client = self._session.client("events", config=AWS_CONFIG)
        return EventBridgePublisher(client, settings.event_bus_name, settings.event_source)

    @_once
    def capacity(self) -> ProviderCapacity:
        from videojobs.adapters.capacity import DynamoDBCapacity, KeyPool

        settings = self._keyed
        pools = {
            name: KeyPool(
                key_ids=[key_id(key.get_secret_value()) for key in settings.provider_api_keys(name)],
                limits=settings.provider_key_limits(name),
            )
            for name in UNITS
        }
        # A slot outlives any job that holds it: a crashed holder's slot is back after this.
        lease_seconds = settings.job_max_age_seconds + settings.dispatch_uncertain_grace_seconds + 900
        return DynamoDBCapacity(
            self._dynamodb, settings.provider_limits_table_name, pools, lease_seconds=lease_seconds
        )

    @_once
    def health(self) -> ProviderHealth:
        from videojobs.adapters.health import DynamoDBProviderHealth

        settings = self._settings
        return DynamoDBProviderHealth(
            self._dynamodb,
            settings.provider_limits_table_name,
            failure_threshold=settings.breaker_failure_threshold,
            open_seconds=settings.breaker_open_seconds,
            probe_lease_seconds=PROBE_LEASE_SECONDS,
        )

    @_once
    def budget(self) -> SpendingLedger:
        from videojobs.adapters.budget import DynamoDBSpendingLedger

        return DynamoDBSpendingLedger(self._dynamodb, self._settings.provider_limits_table_name)

    @_once
    def idempotency(self) -> IdempotencyGuard:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        from videojobs.idempotency import IdempotencyGuard

        settings = self._settings
        return IdempotencyGuard.create(
            DynamoDBPersistenceLayer(table_name=settings.idempotency_table_name, boto3_client=self._dynamodb),
            expires_after_seconds=settings.idempotency_expiry_seconds,
        )

    # -- ports over HTTP -----------------------------------------------------------------------------
    @_once
    def source(self) -> VideoSource:
        import httpx

        from videojobs.adapters.http_source import HttpVideoSource
        from videojobs.adapters.pinned_http import pinned_client

        settings = self._settings
        client = pinned_client(
            timeout=httpx.Timeout(settings.download_timeout_seconds, connect=10.0),
            allow_loopback=settings.local_mode,
        )
        return HttpVideoSource(
            client, max_bytes=settings.max_video_bytes, deadline_seconds=settings.transfer_deadline_seconds
        )

    @_once
    def notifier(self) -> CallerNotifier:
        import httpx

        from videojobs.adapters.http_notifier import HttpCallerNotifier
        from videojobs.adapters.pinned_http import pinned_client

        settings = self._settings
        client = pinned_client(
            timeout=httpx.Timeout(settings.notify_timeout_seconds, connect=5.0),
            allow_loopback=settings.local_mode,
        )
        return HttpCallerNotifier(client)

    @_once
    def _provider_client(self) -> httpx.Client:
        """One client for every provider adapter."""
        import httpx

        return httpx.Client(timeout=httpx.Timeout(self._settings.provider_timeout_seconds, connect=5.0))

    @_once
    def _adapter_context(self) -> AdapterContext:
        return AdapterContext(
            client=self._provider_client,
            clock=utc_now,
            max_webhook_age=timedelta(seconds=self._settings.webhook_max_age_seconds),
        )

    def _adapter(self, name: ProviderName, base_url: str, api_key: SecretStr) -> VideoProvider:
        return UNITS[name].adapter(self._keyed.provider(name), self._adapter_context, base_url, api_key)

    @_once
    def providers(self) -> Mapping[ProviderName, Mapping[str, VideoProvider]]:
        """Per provider whose base URL and API key(s) are configured, its adapters by key id. Asking
        whether a provider is configured loads nothing; an adapter is built when a job first uses it."""
        settings = self._keyed
        configured: dict[ProviderName, Mapping[str, VideoProvider]] = {}
        for name in UNITS:
            base_url = settings.provider_base_url(name)
            keys = settings.provider_api_keys(name)
            if base_url is not None and keys:
                build = functools.partial(self._adapter, name, base_url)
                configured[name] = _AdaptersByKey(build, keys, self._lock)
        return configured

    # -- values --------------------------------------------------------------------------------------
    @cached_property
    def download_policies(self) -> Mapping[ProviderName, DownloadPolicy]:
        settings = self._settings
        policies: dict[ProviderName, DownloadPolicy] = {}
        for name in UNITS:
            hosts = list(settings.provider_output_hosts(name))
            base_url = settings.provider_base_url(name)
            if base_url and (host := urlsplit(base_url).hostname):
                hosts.append(host)
            policies[name] = HostAllowlist(hosts, allow_loopback=settings.local_mode)
        return policies

    @cached_property
    def authenticator(self) -> WebhookAuthenticator:
        settings = self._keyed
        return WebhookAuthenticator(
            settings.webhook_token_secrets(), lifetime=settings.webhook_token_lifetime()
        )

    @cached_property
    def list_cursors(self) -> ListCursors:
        return ListCursors(self._keyed.webhook_token_secrets())

    @cached_property
    def clock(self) -> Clock:
        return utc_now

    @cached_property
    def job_retention(self) -> timedelta:
        return timedelta(days=self._settings.job_retention_days)

    @cached_property
    def public_base_url(self) -> str | None:
        url = self._settings.public_base_url
        return str(url).rstrip("/") if url else None

    @cached_property
    def status_check_policy(self) -> StatusCheckPolicy:
        settings = self._settings
        return StatusCheckPolicy(
            first_delay_seconds=settings.status_check_first_delay_seconds,
            max_delay_seconds=settings.status_check_max_delay_seconds,
            job_max_age_seconds=settings.job_max_age_seconds,
        )

    @cached_property
    def input_policy(self) -> InputPolicy:
        settings = self._settings
        return InputPolicy(
            buckets=frozenset(settings.input_bucket_names),
            url_expiry_seconds=settings.input_url_expiry_seconds,
        )

    @cached_property
    def dispatch_policy(self) -> DispatchPolicy:
        settings = self._settings
        return DispatchPolicy(
            max_attempts=settings.dispatch_max_attempts,
            backoff_base_seconds=settings.dispatch_backoff_base_seconds,
            backoff_max_seconds=settings.dispatch_backoff_max_seconds,
            uncertain_grace_seconds=settings.dispatch_uncertain_grace_seconds,
            capacity_retry_seconds=settings.dispatch_capacity_retry_seconds,
        )

    @cached_property
    def intake_policy(self) -> IntakePolicy:
        settings = self._settings
        return IntakePolicy(
            drop_default_provider=settings.drop_default_provider,
            drop_default_prompt=settings.drop_default_prompt,
            max_drop_bytes=settings.max_drop_bytes,
            allow_loopback_urls=settings.local_mode,
            max_request_bytes=settings.max_request_bytes,
            price_per_second_usd={
                name: price
                for name in UNITS
                if (price := settings.provider(name).price_per_second_usd) is not None
            },
        )

    @cached_property
    def budget_policy(self) -> BudgetPolicy:
        settings = self._settings

        def micros(ceiling: Decimal | None) -> int | None:
            return None if ceiling is None else usd_micros(ceiling)

        return BudgetPolicy(
            daily_limit_micros=micros(settings.budget_daily_usd),
            monthly_limit_micros=micros(settings.budget_monthly_usd),
            end_user_daily_limit_micros=micros(settings.budget_per_end_user_daily_usd),
            unpriced=settings.budget_unpriced,
        )

    @cached_property
    def routing_policy(self) -> RoutingPolicy:
        settings = self._settings
        return RoutingPolicy(
            order=settings.routing_order,
            spillover=settings.routing_spillover,
            failover_on_provider_failure=settings.failover_on_provider_failure,
            key_bench_seconds=settings.key_bench_seconds,
        )

    @cached_property
    def output_policy(self) -> OutputPolicy:
        settings = self._settings
        return OutputPolicy(
            max_moov_bytes=settings.max_moov_bytes,
            mismatch=settings.output_mismatch,
            url_expiry_seconds=settings.output_url_expiry_seconds,
        )

    @cached_property
    def upload_policy(self) -> UploadPolicy:
        """Uploads go to the first input bucket (the template's InputsBucket)."""
        settings = self._settings
        buckets = settings.input_bucket_names
        return UploadPolicy(bucket=buckets[0] if buckets else None, max_bytes=settings.max_upload_bytes)

    @cached_property
    def notify_policy(self) -> NotifyPolicy:
        return NotifyPolicy(retry_delays_seconds=self._settings.notify_retry_delays_seconds)

    @cached_property
    def notify_signing_secret(self) -> str | None:
        secret = self._keyed.notify_signing_secret
        return secret.get_secret_value() if secret else None

    @cached_property
    def max_webhook_bytes(self) -> int:
        return self._settings.max_webhook_bytes


class _AdaptersByKey(Mapping[str, VideoProvider]):
    """One provider's adapters by key id; each is built the first time it is looked up."""

    def __init__(
        self, build: Callable[[SecretStr], VideoProvider], keys: tuple[SecretStr, ...], lock: threading.RLock
    ) -> None:
        self._build = build
        self._keys = {key_id(key.get_secret_value()): key for key in keys}
        self._built: dict[str, VideoProvider] = {}
        self._lock = lock

    def __getitem__(self, key: str) -> VideoProvider:
        api_key = self._keys[key]
        with self._lock:
            if key not in self._built:
                self._built[key] = self._build(api_key)
            return self._built[key]

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
