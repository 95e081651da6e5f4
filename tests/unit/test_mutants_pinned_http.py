"""Survivors of `make mutate` in adapters/pinned_http.py: the system resolver, which the other tests
replace with stubs. Only names /etc/hosts answers are looked up: no query leaves the machine."""

import httpcore
import pytest

from videojobs.adapters.pinned_http import system_resolver


def test_the_system_resolver_answers_each_address_once_as_text() -> None:
    addresses = system_resolver("localhost")

    assert "127.0.0.1" in addresses
    assert len(addresses) == len(set(addresses))
    assert all(isinstance(address, str) for address in addresses)


def test_an_address_literal_resolves_to_itself() -> None:
    assert system_resolver("127.0.0.1") == ["127.0.0.1"]


def test_a_name_that_cannot_be_encoded_is_a_connect_error() -> None:
    # IDNA refuses an empty label before any query is made.
    with pytest.raises(httpcore.ConnectError, match="could not resolve"):
        system_resolver("bad..name")
