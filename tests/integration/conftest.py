"""A real moto server over HTTP, with the resources of template.yaml, and the provider simulator."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.aws import ProvisionedStack, aws_client, provision
from local.moto_server import moto_server
from local.simulator import ProviderSimulator
from local.simulator.testing import LoopbackPeer
from local.template import read_application


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = moto_server("127.0.0.1", 0)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def aws_resources(moto_endpoint: str) -> ProvisionedStack:
    """The template's tables, buckets, queues, bus and secret, created from template.yaml itself."""
    application = read_application()
    return provision(
        application.resources,
        application.parameters,
        endpoint_url=moto_endpoint,
        stack_name="integration",
        conditions=application.conditions,
        secret_values={"EACHLABS_API_KEY": "sim-eachlabs-key"},
    )


@pytest.fixture(scope="session")
def aws(moto_endpoint: str) -> Any:
    return lambda service: aws_client(service, moto_endpoint)


@pytest.fixture(scope="session")
def simulator() -> Iterator[ProviderSimulator]:
    with ProviderSimulator(host="127.0.0.1", port=0) as sim:
        yield sim


@pytest.fixture(scope="session")
def clip_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by every simulator in the session, so each distinct clip is rendered once."""
    return tmp_path_factory.mktemp("sim-clips")


@pytest.fixture
def peer() -> Iterator[LoopbackPeer]:
    """A loopback HTTP server that records what is posted to it and serves ``peer.files``."""
    with LoopbackPeer() as loopback_peer:
        yield loopback_peer
