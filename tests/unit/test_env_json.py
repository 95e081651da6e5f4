"""`make env-json`: env.json gives each function every variable the template declares for it (`sam local`
passes no other), pointed at a running `make local` through the address a container reaches the host by."""

import os

import pytest

from local.env_json import CONTAINER_HOST, env_json
from local.simulator import DEFAULT_API_KEYS
from local.stack import LOCAL_SETTINGS, LOCAL_WEBHOOK_TOKEN_SECRET, PASSED_THROUGH_SUFFIXES, LocalStackConfig
from local.template import read_application
from videojobs.providers import UNITS
from videojobs.settings import Settings, api_key_setting

CONFIG = LocalStackConfig()  # make local's ports: AWS 5000, API 3000, simulator 8900
AWS = f"http://{CONTAINER_HOST}:{CONFIG.aws_port}"
SIMULATOR = f"http://{CONTAINER_HOST}:{CONFIG.simulator_port}"


@pytest.fixture(autouse=True)
def no_shell_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack takes *_BASE_URL, *_API_KEY and the like from the shell; none here."""
    for name in list(os.environ):
        if name.endswith(PASSED_THROUGH_SUFFIXES):
            monkeypatch.delenv(name)


def test_each_function_gets_every_variable_it_declares_and_nothing_else() -> None:
    functions = read_application().functions

    environments = env_json(CONFIG)

    assert set(environments) == set(functions)
    for logical_id, spec in functions.items():
        assert set(environments[logical_id]) == set(spec.environment), logical_id


def test_aws_and_the_simulator_are_reached_through_the_docker_host_and_webhooks_come_to_the_api_front() -> (
    None
):
    environments = env_json(CONFIG)
    callback, notify = environments["CallbackFunction"], environments["NotifyFunction"]
    stack = CONFIG.stack_name

    assert callback["AWS_ENDPOINT_URL"] == AWS
    assert callback["TRANSFER_QUEUE_URL"] == f"{AWS}/123456789012/{stack}-TransferQueue"
    assert callback["JOBS_TABLE_NAME"] == f"{stack}-JobsTable"
    assert callback["VIDEOS_BUCKET_NAME"] == f"{stack}-VideosBucket".lower()
    assert callback["SECRETS_NAME"] == f"{stack}-PipelineSecrets"
    assert notify["SECRETS_NAME"] == f"{stack}-PipelineSecrets,{stack}-NotifySigningSecret"
    assert {callback[f"{name.upper()}_BASE_URL"].removesuffix("/api/v3") for name in UNITS} == {
        f"{SIMULATOR}/{name}" for name in UNITS
    }
    assert callback["ATLASCLOUD_JWKS_URL"].startswith(f"{SIMULATOR}/atlascloud/")
    assert callback["FAL_JWKS_URL"].startswith(f"{SIMULATOR}/fal/")
    # The simulator runs on the host, and sends its webhooks there.
    assert callback["PUBLIC_BASE_URL"] == f"http://127.0.0.1:{CONFIG.api_port}"
    assert callback["LOCAL_MODE"] == "true"
    for name, value in LOCAL_SETTINGS.items():
        assert callback[name] == value, name
    for logical_id, environment in environments.items():
        loopback = {
            name for name, value in environment.items() if "127.0.0.1" in value or "localhost" in value
        }
        assert loopback == {"PUBLIC_BASE_URL"}, logical_id


def test_every_function_starts_on_it_with_the_local_stacks_secret() -> None:
    secret = {"WEBHOOK_TOKEN_SECRET": LOCAL_WEBHOOK_TOKEN_SECRET}
    secret.update({api_key_setting(name).upper(): DEFAULT_API_KEYS[name] for name in UNITS})

    for logical_id, environment in env_json(CONFIG).items():
        settings = Settings.load(secret, environ=environment)

        assert settings.local_mode, logical_id
        assert settings.provider_base_url("eachlabs") == f"{SIMULATOR}/eachlabs", logical_id
        assert settings.status_check_first_delay_seconds == 3, logical_id


def test_it_follows_the_local_ports_and_a_provider_the_shell_points_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOCAL_AWS_PORT", "5100")
    monkeypatch.setenv("LOCAL_API_PORT", "3100")
    monkeypatch.setenv("LOCAL_SIMULATOR_PORT", "8910")
    monkeypatch.setenv("EACHLABS_BASE_URL", "https://api.eachlabs.ai")

    submit = env_json()["SubmitFunction"]

    assert submit["AWS_ENDPOINT_URL"] == f"http://{CONTAINER_HOST}:5100"
    assert submit["PUBLIC_BASE_URL"] == "http://127.0.0.1:3100"
    assert submit["FAL_BASE_URL"] == f"http://{CONTAINER_HOST}:8910/fal"
    assert submit["EACHLABS_BASE_URL"] == "https://api.eachlabs.ai"
