"""The embedded local stack: moto for AWS, the provider simulator, the API front and the queue runner.

Everything binds to 127.0.0.1. Resources come from template.yaml; the functions get the template's
own environment, resolved against the local resources, plus the few settings that point them here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from local.api_front import ApiFront
from local.aws import ACCOUNT_ID, REGION, ProvisionedStack, aws_client, provision
from local.container import CLOCK_FILE_VARIABLE
from local.lambdas import LocalFunction
from local.moto_server import MotoProcess
from local.pages import LocalPages
from local.queue_runner import QueuePoller
from local.sigv4 import SigV4
from local.simulator import DEFAULT_API_KEYS, ProviderSimulator
from local.template import Application, read_application
from videojobs.providers import UNITS
from videojobs.settings import Settings, api_key_setting, api_keys_setting

HOST = "127.0.0.1"
EVENTS_TAP_QUEUE = "events-tap"
OUTCOME_DETAIL_TYPES = frozenset(
    {"Video Job Succeeded", "Video Job Failed", "Video Job Canceled", "Video Job Rejected"}
)
#: Local defaults that keep the feedback loop short; the environment or the config overrides them.
LOCAL_SETTINGS = {
    "STATUS_CHECK_FIRST_DELAY_SECONDS": "3",
    "STATUS_CHECK_MAX_DELAY_SECONDS": "5",
    "DISPATCH_CAPACITY_RETRY_SECONDS": "1",
    "DISPATCH_BACKOFF_BASE_SECONDS": "1",
    "DISPATCH_BACKOFF_MAX_SECONDS": "4",
    "DISPATCH_UNCERTAIN_GRACE_SECONDS": "20",
    "NOTIFY_RETRY_DELAYS_SECONDS": "1,2,5",
    "DROP_DEFAULT_PROVIDER": "eachlabs",
}
#: The webhook token secret the local stack keeps in its PipelineSecrets, and the seed of its simulator's
#: webhook signing keys and Replicate account secret: fixed, so that the webhook samples in events/ (`make
#: events`) carry tokens and signatures a running `make local` accepts. Known to all: local use only.
LOCAL_WEBHOOK_TOKEN_SECRET = "seedance-local-stack-webhook-token-secret"  # noqa: S105 - a local fixture
LOCAL_SIGNING_SEED = b"seedance-local-stack-simulator-signing-seed"
PASSED_THROUGH_SUFFIXES = (
    "_BASE_URL",
    "_API_KEY",
    "_API_KEYS",
    "_JWKS_URL",
    "_MAX_CONCURRENT",
    "_MAX_CREATES_PER_MINUTE",
    "JOB_MAX_AGE_SECONDS",
    "DISPATCH_MAX_ATTEMPTS",
    "DROP_DEFAULT_PROMPT",
    "NOTIFY_SIGNING_SECRET",
    "POWERTOOLS_LOG_LEVEL",
    *LOCAL_SETTINGS,
)


@dataclass
class LocalStackConfig:
    aws_port: int = 5000
    api_port: int = 3000
    simulator_port: int = 8900
    stack_name: str = "seedance-local"
    retry_delay_seconds: int = 1
    #: Start one container of every function, all at once, before `start` returns: their cold starts
    #: are paid up front, in parallel, rather than by the first requests (which a client may time out).
    warm: bool = True
    #: Environment overrides; a provider's *_BASE_URL here (or in os.environ) replaces the simulator.
    environment: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, *, ephemeral: bool = False) -> LocalStackConfig:
        """LOCAL_AWS_PORT, LOCAL_API_PORT, LOCAL_SIMULATOR_PORT; unset means the defaults, or any
        free port when ``ephemeral``."""
        defaults = cls() if not ephemeral else cls(aws_port=0, api_port=0, simulator_port=0)
        return cls(
            aws_port=int(os.environ.get("LOCAL_AWS_PORT", defaults.aws_port)),
            api_port=int(os.environ.get("LOCAL_API_PORT", defaults.api_port)),
            simulator_port=int(os.environ.get("LOCAL_SIMULATOR_PORT", defaults.simulator_port)),
        )


class FunctionsClock:
    """The functions' clock, as a test steps it: real time plus `offset` seconds. The stack writes the
    offset to a file its containers read before each event (`local/container.py`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0.0
        self._write()

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self._write()

    def reset(self) -> None:
        self.offset = 0.0
        self._write()

    def _write(self) -> None:
        draft = f"{self.path}.draft"
        with open(draft, "w") as handle:
            handle.write(repr(self.offset))
        os.replace(draft, self.path)


class LocalStack:
    def __init__(self, config: LocalStackConfig | None = None) -> None:
        self.config = config or LocalStackConfig()
        self.application: Application = read_application()
        self.moto = MotoProcess(HOST, self.config.aws_port)
        self.simulator = local_simulator(self.config)
        self.functions: dict[str, LocalFunction] = {}
        self.front: ApiFront | None = None
        self.pollers: list[QueuePoller] = []
        self._resources: ProvisionedStack | None = None
        #: Every function's environment laid over each other (what a helper acting as "the functions"
        #: in this process needs); each function's container gets its own, `function_environments`.
        self.environment: dict[str, str] = {}
        self.function_environments: dict[str, dict[str, str]] = {}
        self._overrides: dict[str, str] = {}
        self._scratch = tempfile.mkdtemp(prefix="local-stack-")
        self.functions_clock = FunctionsClock(os.path.join(self._scratch, "clock"))

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.moto.start()
        self.simulator.start()
        overrides = local_overrides(self.config)
        secret_values = local_secret_values(overrides)
        for name in UNITS:
            for key in (key.strip() for key in secret_values[api_keys_setting(name).upper()].split(",")):
                if key:
                    self.simulator.add_api_key(name, key)
        self._resources = provision(
            self.application.resources,
            self.application.parameters,
            endpoint_url=self.aws_endpoint,
            stack_name=self.config.stack_name,
            secret_values=secret_values,
            conditions=self.application.conditions,
        )
        self.functions = {
            logical_id: LocalFunction(spec) for logical_id, spec in self.application.functions.items()
        }
        self.front = ApiFront(
            self.application.routes,
            self.functions,
            host=HOST,
            port=self.config.api_port,
            site=LocalPages(),  # /docs and /console, whose requests the front signs (local only)
        ).start()
        self._overrides = overrides
        self._apply_environment()
        if self.config.warm:
            self.start_containers()
        self._create_events_tap()
        self._start_pollers()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop_soon()
        for poller in self.pollers:
            poller.stop()
        if self.front is not None:
            self.front.stop()
        for function in self.functions.values():
            function.close()
        self.simulator.stop()
        self.moto.stop()
        shutil.rmtree(self._scratch, ignore_errors=True)

    @contextlib.contextmanager
    def environment_overridden(self, **values: str) -> Iterator[None]:
        """Run the functions with ``values`` in their environment for a while (status checks pushed
        out for one test module, say), then as before: the containers started before are stopped
        (each once its invocation ends) both ways, and new ones start with the environment of now."""
        saved = dict(self._overrides)
        self._overrides.update(values)
        self._apply_environment()
        try:
            yield
        finally:
            self._overrides = saved
            self._apply_environment()

    def restart_functions(self) -> None:
        """Every function's containers stopped (once idle): the next invocations start cold."""
        self._apply_environment()

    def pids(self) -> list[int]:
        """The process ids of the stack's own processes: moto's and every container's."""
        moto = [self.moto.pid] if self.moto.pid is not None else []
        return moto + [pid for function in self.functions.values() for pid in function.pids()]

    def start_containers(self, *logical_ids: str) -> None:
        """One container of each of these functions (all of them if none is named) started at once,
        ahead of their first invocation."""
        names = logical_ids or tuple(self.functions)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(lambda name: self.functions[name].start_container(), names))

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------------------------------
    @property
    def aws_endpoint(self) -> str:
        host, port = self.moto.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        if self.front is None:
            raise RuntimeError("the local stack has not been started")
        return self.front.base_url

    @property
    def resources(self) -> ProvisionedStack:
        if self._resources is None:
            raise RuntimeError("the local stack has not been started")
        return self._resources

    def api_client(self, *, timeout: float = 30) -> httpx.Client:
        """A client of the local API that signs its requests (SigV4) with the local credentials, as
        the template's IAM-protected routes require; open routes ignore the signature."""
        return httpx.Client(base_url=self.api_url, timeout=timeout, auth=SigV4())

    def job_count(self) -> int:
        """How many job records the jobs table holds (a scan: the local table is small)."""
        count: int = self.client("dynamodb").scan(TableName=self.ref("JobsTable"), Select="COUNT")["Count"]
        return count

    def ref(self, logical_id: str) -> str:
        return self.resources.refs[logical_id]

    def client(self, service: str) -> Any:
        return aws_client(service, self.aws_endpoint)

    # -- wiring ----------------------------------------------------------------------------------------
    def _apply_environment(self) -> None:
        """Each function's environment worked out from the overrides of now, and given to its pool."""
        overrides = {**self._overrides, CLOCK_FILE_VARIABLE: self.functions_clock.path}
        environments = function_environments(
            self.application,
            self.resources,
            aws_endpoint=self.aws_endpoint,
            api_url=self.api_url,
            simulator_settings=simulator_settings(self.simulator, overrides),
            overrides=overrides,
        )
        environment: dict[str, str] = {}
        for function_environment in environments.values():
            environment.update(function_environment)
        self.environment = environment
        self.function_environments = environments
        for logical_id, function in self.functions.items():
            function.set_environment(environments[logical_id])

    @property
    def simulator_providers(self) -> list[str]:
        return list(self.simulator.providers)

    def _start_pollers(self) -> None:
        sqs = self.client("sqs")
        for trigger in self.application.queue_triggers:
            poller = QueuePoller(
                trigger,
                self.functions[trigger.function_id],
                sqs,
                queue_url=self.resources.refs[trigger.queue_id],
                queue_arn=self.resources.attributes[(trigger.queue_id, "Arn")],
                region=REGION,
                retry_delay_seconds=self.config.retry_delay_seconds,
            )
            self.pollers.append(poller.start())

    def _create_events_tap(self) -> None:
        """A rule on the pipeline's bus that copies every event of ours into a queue we can read."""
        sqs, events = self.client("sqs"), self.client("events")
        name = f"{self.config.stack_name}-{EVENTS_TAP_QUEUE}"
        self.events_tap_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        bus = self.ref("VideoEventsBus")
        source = Settings.model_fields["event_source"].default
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": [source]}))
        events.put_targets(
            Rule=name,
            EventBusName=bus,
            Targets=[{"Id": "tap", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"}],
        )

    # -- reading what the pipeline did ---------------------------------------------------------------
    def drain_events(self, *, wait_seconds: float = 0) -> list[dict[str, Any]]:
        """Events the pipeline put on its bus since the last call, oldest first."""
        sqs = self.client("sqs")
        deadline = time.monotonic() + wait_seconds
        collected: list[dict[str, Any]] = []
        while True:
            response = sqs.receive_message(QueueUrl=self.events_tap_url, MaxNumberOfMessages=10)
            messages = response.get("Messages", [])
            for message in messages:
                collected.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.events_tap_url, ReceiptHandle=message["ReceiptHandle"])
            if not messages and time.monotonic() >= deadline:
                return collected
            if not messages:
                time.sleep(0.1)

    def wait_for_outcomes(self, count: int, *, timeout: float) -> list[dict[str, Any]]:
        """Succeeded, Failed and Rejected events (others are passed over) until ``count`` have come,
        or ``timeout`` seconds have passed."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            events = self.drain_events(wait_seconds=0.2)
            found += [event for event in events if event["detail-type"] in OUTCOME_DETAIL_TYPES]
        return found


def local_simulator(config: LocalStackConfig) -> ProviderSimulator:
    """The local stack's provider simulator (not started), with the local signing keys."""
    # Presigned URLs of local S3 are plain http on loopback: let the simulator fetch them.
    return ProviderSimulator(
        host=HOST, port=config.simulator_port, allow_loopback_media=True, signing_seed=LOCAL_SIGNING_SEED
    )


def local_overrides(config: LocalStackConfig) -> dict[str, str]:
    """The local settings (`LOCAL_SETTINGS`), then what the shell passes through
    (`PASSED_THROUGH_SUFFIXES`), then the config's environment: each wins over the one before."""
    overrides = {**LOCAL_SETTINGS}
    overrides.update({k: v for k, v in os.environ.items() if k.endswith(PASSED_THROUGH_SUFFIXES)})
    overrides.update(config.environment)
    return overrides


def local_secret_values(overrides: Mapping[str, str]) -> dict[str, str]:
    """What the local stack keeps in its PipelineSecrets: each provider's API key (the simulator's, unless
    the overrides name another) and key pool (the overrides'), and the fixed webhook token secret."""
    values: dict[str, str] = {}
    for name in UNITS:
        key, pool = api_key_setting(name).upper(), api_keys_setting(name).upper()
        values[key] = overrides.get(key, DEFAULT_API_KEYS[name])
        values[pool] = overrides.get(pool, "")
    values["WEBHOOK_TOKEN_SECRET"] = LOCAL_WEBHOOK_TOKEN_SECRET
    return values


def simulator_settings(
    simulator: ProviderSimulator, overrides: Mapping[str, str], *, simulator_url: str | None = None
) -> dict[str, str]:
    """The settings that point each provider at the simulator (at `simulator_url`, if the functions
    reach it there), but for a provider whose ``*_BASE_URL`` the overrides set: that server is used."""
    settings: dict[str, str] = {}
    for name in UNITS:
        if f"{name.upper()}_BASE_URL" not in overrides and name in simulator.providers:
            settings.update(simulator.pipeline_settings(name, simulator_url=simulator_url))
    return settings


def function_environments(
    application: Application,
    resources: ProvisionedStack,
    *,
    aws_endpoint: str,
    api_url: str,
    simulator_settings: Mapping[str, str],
    overrides: Mapping[str, str],
) -> dict[str, dict[str, str]]:
    """Each function's environment on the local stack, by logical id: its template ``Environment``
    resolved against the local resources (an empty value is left out: it means the default), then the
    settings that point it here (AWS, the API's URL for webhooks, the simulator), then `overrides`."""
    intrinsics = resources.intrinsics
    here = {
        "AWS_ENDPOINT_URL": aws_endpoint,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "LOCAL_MODE": "true",
        "PUBLIC_BASE_URL": api_url,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        **simulator_settings,
        **overrides,
    }
    environments: dict[str, dict[str, str]] = {}
    for logical_id, spec in application.functions.items():
        resolved = {name: str(intrinsics.resolve(value)) for name, value in spec.environment.items()}
        environments[logical_id] = {**{k: v for k, v in resolved.items() if v != ""}, **here}
    return environments
