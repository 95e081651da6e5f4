"""The composition root builds each port the first time it is used, and a provider's adapter only when
a job needs that provider."""

from collections.abc import Iterator

import pytest

from tests.support import REQUIRED_SETTINGS
from videojobs import bootstrap
from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.providers.eachlabs.adapter import EachLabsProvider
from videojobs.settings import key_id

ENVIRONMENT = {**REQUIRED_SETTINGS, "EACHLABS_API_KEYS": "key-one,key-two"}


@pytest.fixture
def deps(monkeypatch: pytest.MonkeyPatch) -> Iterator[Dependencies]:
    for name in ("SECRETS_NAME", "EACHLABS_API_KEY", "GATEWAY_BASE_URL", "GATEWAY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    build_dependencies.cache_clear()
    yield build_dependencies()
    build_dependencies.cache_clear()


def built(deps: Dependencies) -> set[str]:
    return {name for name in vars(deps) if not name.startswith("_")}


def test_nothing_is_built_before_it_is_used(deps: Dependencies) -> None:
    assert built(deps) == set()
    assert "_dynamodb" not in vars(deps)


def test_a_port_is_built_once_on_first_use_with_only_the_client_it_needs(deps: Dependencies) -> None:
    jobs = deps.jobs

    assert deps.jobs is jobs
    assert built(deps) == {"jobs"}
    assert "_dynamodb" in vars(deps)
    assert "_s3" not in vars(deps)
    assert "_sqs" not in vars(deps)


def test_asking_whether_a_provider_is_configured_builds_no_adapter(deps: Dependencies) -> None:
    by_key = deps.providers.get("eachlabs")

    assert by_key is not None
    assert sorted(by_key) == sorted([key_id("key-one"), key_id("key-two")])
    assert deps.providers.get("gateway") is None  # no base URL
    assert "_provider_client" not in vars(deps)


def test_a_providers_adapter_is_built_for_its_key_when_first_used(deps: Dependencies) -> None:
    adapter = deps.provider("eachlabs", key_id("key-two"))

    assert isinstance(adapter, EachLabsProvider)
    assert deps.provider("eachlabs", key_id("key-two")) is adapter
    assert deps.provider("eachlabs", key_id("key-one")) is not adapter
    assert deps.provider("eachlabs", "a-key-that-left-the-pool") is deps.provider(
        "eachlabs", key_id("key-one")
    )


@pytest.fixture
def keys_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """SECRETS_NAME set, WEBHOOK_TOKEN_SECRET only in the "secret": each read of the keys is recorded."""
    reads: list[str] = []

    def read_keys(session: object = None) -> dict[str, object]:
        reads.append("read")
        return {"WEBHOOK_TOKEN_SECRET": "from-the-secret-0123", "EACHLABS_API_KEY": "key-three"}

    monkeypatch.setenv("SECRETS_NAME", "pipeline-secrets")
    monkeypatch.delenv("WEBHOOK_TOKEN_SECRET")
    monkeypatch.setattr(bootstrap, "read_keys", read_keys)
    return reads


@pytest.mark.usefixtures("deps")
def test_ports_that_need_no_key_never_read_the_secrets(keys_read: list[str]) -> None:
    build_dependencies.cache_clear()
    deps = build_dependencies()

    assert (deps.jobs, deps.videos, deps.inputs, deps.transfers, deps.events, deps.budget) is not None
    assert deps.upload_policy.max_bytes > 0
    assert deps.download_policies["eachlabs"] is not None

    assert keys_read == []


@pytest.mark.usefixtures("deps")
def test_the_secrets_are_read_once_when_a_key_is_first_needed(keys_read: list[str]) -> None:
    build_dependencies.cache_clear()
    deps = build_dependencies()

    authenticator = deps.authenticator
    assert keys_read == ["read"]
    assert sorted(deps.providers["eachlabs"]) == sorted([key_id("key-one"), key_id("key-two")])  # env wins
    assert deps.list_cursors is not None
    assert deps.notify_signing_secret is None
    assert authenticator is deps.authenticator
    assert keys_read == ["read"]
