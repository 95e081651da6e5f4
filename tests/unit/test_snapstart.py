"""The SnapStart hooks: what runs before the snapshot needs no network, no credentials and no secret."""

import random
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from functions.status import app as status
from tests.support import REQUIRED_SETTINGS
from videojobs import bootstrap, snapstart

#: Nothing listens here: a request would fail, and no request may be made.
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """No AWS endpoint reachable, no credentials, and every socket connection recorded and refused."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", UNREACHABLE)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in REQUIRED_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SECRETS_NAME", "pipeline-secrets")
    connections: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        connections.append(address)
        raise OSError("no network before the snapshot")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(bootstrap, "read_keys", lambda session=None: pytest.fail("a secret was read"))
    bootstrap.aws_session.cache_clear()
    bootstrap.build_dependencies.cache_clear()
    yield connections
    bootstrap.aws_session.cache_clear()


def test_priming_loads_the_models_and_routes_without_network_credentials_or_secrets(
    no_network: list[Any],
) -> None:
    snapstart.prime()

    session = bootstrap.aws_session()._session
    loader = session.get_component("data_loader")
    loaded = {key[1] for key in loader._cache if key[0] == "load_service_model"}
    assert set(snapstart.AWS_SERVICES) <= loaded
    assert session._credentials is None  # resolved after the restore, not kept in the snapshot
    assert no_network == []
    assert "deps" not in status.app.context  # no port built
    for route in [*status.app._static_routes, *status.app._dynamic_routes]:
        assert route._dependant is not None


def test_after_a_restore_the_random_state_is_new() -> None:
    random.seed(7)
    snapshot_state = random.getstate()

    snapstart.restored()

    assert random.getstate() != snapshot_state
