"""The webhook samples in events/ (`make events`) authenticate as a running `make local` authenticates a
webhook: the real authenticator takes their tokens under the local stack's secret, and each provider
adapter's parse_webhook takes their signatures with the keys the local simulator serves (served here
in-process: no network), at the moment they were made. Anything else is refused."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from local.env_json import function_settings
from local.sample_events import EVENTS_DIR, PLACEHOLDER, is_webhook_sample, local_keys, sample_events
from local.simulator import ProviderSimulator
from local.simulator.protocol import SimRequest
from local.stack import LocalStackConfig, local_simulator
from tests.support import FixedClock, load_event
from videojobs.catalog.capabilities import Callbacks, capabilities_of
from videojobs.errors import WebhookUnauthorized
from videojobs.models import ProviderState
from videojobs.ports import VideoProvider
from videojobs.providers import UNITS
from videojobs.providers.unit import AdapterContext
from videojobs.security import WebhookAuthenticator
from videojobs.settings import Settings

CONFIG = LocalStackConfig()
SAMPLES = sorted(
    path.stem for path in EVENTS_DIR.glob("*.json") if is_webhook_sample(json.loads(path.read_text()))
)
SIGNED = [
    name
    for name in SAMPLES
    if capabilities_of(load_event(name)["pathParameters"]["provider"]).callbacks is Callbacks.SIGNED
]


@pytest.fixture(scope="module")
def settings() -> Settings:
    """The callback function's, as `sam local` runs it on env.json with the local stack's secret."""
    return function_settings("CallbackFunction", CONFIG)


@pytest.fixture(scope="module")
def simulator() -> Iterator[ProviderSimulator]:
    """Made as `make local` makes it: its webhook keys and Replicate secret are the local stack's."""
    sim = local_simulator(CONFIG)
    yield sim
    sim.stop()


def served_by(sim: ProviderSimulator) -> httpx.MockTransport:
    """The simulator's dialects answering in-process, as they answer at ``/<provider>/...``."""

    def answer(request: httpx.Request) -> httpx.Response:
        provider, _, rest = request.url.path.lstrip("/").partition("/")
        dialect = sim.dialect(provider)
        assert dialect is not None, request.url
        body = request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        parsed = json.loads(body) if body else None
        query = dict(request.url.params)
        response = dialect.handle(
            SimRequest(request.method, f"/{rest}", request.url.path, query, headers, body, parsed, True)
        )
        return httpx.Response(response.status, json=response.body, headers=dict(response.headers))

    return httpx.MockTransport(answer)


def adapter(provider: str, settings: Settings, sim: ProviderSimulator, clock: FixedClock) -> VideoProvider:
    """The provider's adapter as the composition root builds it, from the local settings."""
    context = AdapterContext(
        client=httpx.Client(transport=served_by(sim)),
        clock=clock,
        max_webhook_age=timedelta(seconds=settings.webhook_max_age_seconds),
    )
    base_url = settings.provider_base_url(provider)
    assert base_url is not None
    key = settings.provider_api_keys(provider)[0]
    return UNITS[provider].adapter(settings.provider(provider), context, base_url, key)


def made_at(event: dict[str, Any], settings: Settings) -> datetime:
    """When `make events` made the sample: its token's expiry, less a token's lifetime."""
    expiry = int(event["queryStringParameters"]["token"].split(".")[0])
    return datetime.fromtimestamp(expiry, UTC) - settings.webhook_token_lifetime()


def authenticator(settings: Settings, clock: FixedClock) -> WebhookAuthenticator:
    return WebhookAuthenticator(
        settings.webhook_token_secrets(), lifetime=settings.webhook_token_lifetime(), clock=clock
    )


def test_every_provider_sample_is_a_webhook_sample_and_four_are_signed() -> None:
    assert set(SAMPLES) >= {
        "eachlabs_webhook",
        "atlascloud_webhook",
        "fal_webhook",
        "replicate_webhook",
        "jobs_api_callback",
        "byteplus_webhook",
    }
    assert set(SIGNED) == {"eachlabs_webhook", "atlascloud_webhook", "fal_webhook", "replicate_webhook"}


def test_no_sample_keeps_a_placeholder() -> None:
    left = sorted(path.name for path in EVENTS_DIR.glob("*.json") if PLACEHOLDER in path.read_text())

    assert left == [], "placeholders left: run `make events`"


@pytest.mark.parametrize("name", SAMPLES)
def test_the_local_stack_takes_the_samples_token_and_signature(
    name: str, settings: Settings, simulator: ProviderSimulator
) -> None:
    event = load_event(name)
    provider, job_id = event["pathParameters"]["provider"], event["pathParameters"]["job_id"]
    clock = FixedClock(made_at(event, settings))

    verified = authenticator(settings, clock).verify(job_id, event["queryStringParameters"]["token"])
    update = adapter(provider, settings, simulator, clock).parse_webhook(
        event["headers"], event["body"].encode(), signing_secret=verified.signing_secret
    )

    assert verified.attempt == 1
    assert update.state is ProviderState.SUCCEEDED
    assert f'"{update.provider_job_id}"' in event["body"]


@pytest.mark.parametrize("name", SAMPLES)
def test_a_token_made_with_another_secret_or_expired_is_refused(name: str, settings: Settings) -> None:
    event = load_event(name)
    job_id, token = event["pathParameters"]["job_id"], event["queryStringParameters"]["token"]
    made = made_at(event, settings)
    other = WebhookAuthenticator(
        [b"not-the-local-stacks-secret"], lifetime=settings.webhook_token_lifetime(), clock=FixedClock(made)
    )
    expired = FixedClock(made + settings.webhook_token_lifetime())

    with pytest.raises(WebhookUnauthorized):
        other.verify(job_id, token)
    with pytest.raises(WebhookUnauthorized):
        authenticator(settings, expired).verify(job_id, token)


@pytest.mark.parametrize("name", SIGNED)
@pytest.mark.parametrize("change", ["body", "late"])
def test_a_signed_sample_changed_or_older_than_the_webhook_age_is_refused(
    name: str, change: str, settings: Settings, simulator: ProviderSimulator
) -> None:
    event = load_event(name)
    provider, job_id = event["pathParameters"]["provider"], event["pathParameters"]["job_id"]
    made = made_at(event, settings)
    clock = FixedClock(
        made + timedelta(seconds=settings.webhook_max_age_seconds + 1) if change == "late" else made
    )
    body = event["body"].replace("succeeded", "SUCCEEDED").replace('"OK"', '"ok"').encode()
    assert body != event["body"].encode()
    secret = authenticator(settings, FixedClock(made)).verify_token(
        job_id, event["queryStringParameters"]["token"]
    )

    with pytest.raises(WebhookUnauthorized):
        adapter(provider, settings, simulator, clock).parse_webhook(
            event["headers"], body if change == "body" else event["body"].encode(), signing_secret=secret
        )


def test_the_samples_are_what_make_events_writes_at_the_moment_they_were_made(settings: Settings) -> None:
    """Deterministic apart from the time: tokens, timestamps and signatures change, nothing else."""
    made = {made_at(load_event(name), settings) for name in SAMPLES}
    assert len(made) == 1
    now = made.pop()

    written = sample_events(local_keys(now, CONFIG), now)

    assert {path.stem: text for path, text in written.items()} == {
        name: (EVENTS_DIR / f"{name}.json").read_text() for name in SAMPLES
    }
