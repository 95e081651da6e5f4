"""Fixtures for the simulator's own tests: the simulator is a tool, tested here apart from the product."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from local.simulator.testing import LoopbackPeer, client


@pytest.fixture(scope="session")
def clip_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by every simulator in the session, so each distinct clip is rendered once."""
    return tmp_path_factory.mktemp("sim-clips")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """No credentials: for served files and the simulator's control plane."""
    with client() as plain_client:
        yield plain_client


@pytest.fixture
def peer() -> Iterator[LoopbackPeer]:
    """A loopback HTTP server that records what is posted to it and serves ``peer.files``."""
    with LoopbackPeer() as loopback_peer:
        yield loopback_peer
