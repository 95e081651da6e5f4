"""Survivors of `make mutate` in providers/_jwks.py: which JWKS entries count as Ed25519 signing keys,
and strict base64url."""

import base64
import threading
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.support import FixedClock
from videojobs.errors import ProviderError
from videojobs.providers._jwks import JwksKeys, _ed25519_key, _kid_of, decode_base64url

RAW = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
X = base64.urlsafe_b64encode(RAW).decode().rstrip("=")
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ENTRY = {"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "k1"}


@pytest.mark.parametrize("alg", ["EdDSA", "Ed25519"])
def test_an_okp_ed25519_signing_key_is_taken(alg: str) -> None:
    key = _ed25519_key({**ENTRY, "use": "sig", "alg": alg})

    assert key is not None
    assert key.public_bytes(Encoding.Raw, PublicFormat.Raw) == RAW


@pytest.mark.parametrize(
    "changes",
    [
        {"kty": "EC"},  # the right curve name on another key type
        {"crv": "X25519"},  # an OKP key for key agreement
        {"use": "enc"},
        {"alg": "ES256"},
        {"alg": "ed25519"},
    ],
)
def test_anything_else_the_document_lists_is_not(changes: dict[str, str]) -> None:
    assert _ed25519_key({**ENTRY, **changes}) is None


def test_a_kid_is_read_only_from_an_object_and_only_as_text() -> None:
    assert _kid_of(ENTRY) == "k1"
    assert _kid_of({**ENTRY, "kid": 7}) is None
    assert _kid_of(["kid"]) is None


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ("YQ", b"a"),  # two characters short of a block: "==" left out
        ("YWI", b"ab"),  # one short: "=" left out
        ("YQ==", b"a"),
        ("YWI=", b"ab"),
        ("YWJjZGVmZw", b"abcdefg"),  # ten characters: two "=" left out after two whole blocks
        ("AAAX", b"\x00\x00\x17"),  # a trailing "X" is data, not padding
        ("_-8", b"\xff\xef"),  # the URL-safe alphabet
        (ALPHABET, base64.urlsafe_b64decode(ALPHABET)),  # all of it
        ("YQ===", None),  # three "=" is never base64
        ("YWI==", None),  # padding that does not end a block
        ("YW+I", None),  # the standard alphabet's "+" is not base64url
        ("=", None),
        ("", None),
    ],
)
def test_base64url_is_read_strictly(value: str, decoded: bytes | None) -> None:
    assert decode_base64url(value) == decoded


# -- the cache: fetched on first use, refetched at most once per interval, never twice for one change --

JWKS_URL = "https://provider.example.com/.well-known/jwks.json"


def public_jwk(kid: str | None) -> tuple[bytes, dict[str, str]]:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    entry = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    return raw, {**entry, "kid": kid} if kid else entry


class JwksHost:
    """Serves ``document`` to GETs of the JWKS URL (anything else is 405, as a real host answers) and
    counts the fetches; ``down`` is the status it answers with instead, when set."""

    def __init__(self, *entries: dict[str, str]) -> None:
        self.document: object = {"keys": list(entries)}
        self.down: int | None = None
        self.fetches = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET" or str(request.url) != JWKS_URL:
            return httpx.Response(405)
        self.fetches += 1
        if self.down is not None:
            return httpx.Response(self.down)
        return httpx.Response(200, json=self.document)

    def keys(self, clock: FixedClock, *, every: timedelta = timedelta(seconds=1)) -> JwksKeys:
        client = httpx.Client(transport=httpx.MockTransport(self.handle))
        return JwksKeys(client, JWKS_URL, provider="fal", clock=clock, min_refetch_interval=every)


def raw(keys: tuple[Ed25519PublicKey, ...]) -> list[bytes]:
    return [key.public_bytes(Encoding.Raw, PublicFormat.Raw) for key in keys]


class HeldByAnotherCaller:
    """The cache's lock, held by another caller when this one first asks for it: ``meanwhile`` (what
    that caller does) runs before the lock is granted, as it would while this caller waited."""

    def __init__(self, meanwhile: Callable[[], object]) -> None:
        self._meanwhile: Callable[[], object] | None = meanwhile
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        meanwhile, self._meanwhile = self._meanwhile, None
        if meanwhile is not None:
            meanwhile()
        self._lock.acquire()

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def test_the_published_keys_are_fetched_with_a_get_on_first_use_and_then_served_from_the_cache() -> None:
    first, second = public_jwk("k1"), public_jwk(None)
    host = JwksHost(first[1], second[1])
    jwks = host.keys(FixedClock())

    assert raw(jwks.keys()) == [first[0], second[0]]
    assert raw(jwks.keys()) == [first[0], second[0]]
    assert host.fetches == 1


def test_refreshed_gives_nothing_to_try_until_the_refetch_interval_has_passed() -> None:
    # Given keys fetched a moment ago, none of which verified, and a rotation at the provider since
    old, new = public_jwk("old"), public_jwk("new")
    host = JwksHost(old[1])
    clock = FixedClock()
    jwks = host.keys(clock)
    tried = jwks.keys()
    host.document = {"keys": [new[1]]}

    # When the caller asks for fresh keys within the interval, and again after it
    too_soon = jwks.refreshed(since=tried)
    clock.advance(1)
    later = jwks.refreshed(since=tried)

    # Then the first answer is nothing new (no request), the second the rotated set
    assert too_soon == ()
    assert raw(later) == [new[0]]
    assert host.fetches == 2


@pytest.mark.parametrize("document", [[{"keys": []}], {"keys": {"k1": ENTRY}}, "keys"])
def test_a_jwks_document_without_a_keys_list_is_a_retryable_provider_error(document: object) -> None:
    host = JwksHost()
    host.document = document

    with pytest.raises(ProviderError) as raised:
        host.keys(FixedClock()).keys()

    assert raised.value.retryable


def test_an_unknown_kid_fetched_by_another_caller_meanwhile_is_not_fetched_again() -> None:
    # Given two webhooks signed with a new key, and a cache that may refetch at any time
    new = public_jwk("new")
    host = JwksHost(new[1])
    jwks = host.keys(FixedClock(), every=timedelta(0))
    jwks._lock = HeldByAnotherCaller(lambda: jwks.key("new"))  # type: ignore[assignment]

    # When the second looks the key up after the first has fetched it
    key = jwks.key("new")

    # Then it has the key from the first one's fetch
    assert key is not None
    assert raw((key,)) == [new[0]]
    assert host.fetches == 1


def test_keys_another_caller_fetched_meanwhile_are_not_fetched_again() -> None:
    published = public_jwk(None)
    host = JwksHost(published[1])
    jwks = host.keys(FixedClock(), every=timedelta(0))
    jwks._lock = HeldByAnotherCaller(jwks.keys)  # type: ignore[assignment]

    assert raw(jwks.keys()) == [published[0]]
    assert host.fetches == 1


def test_keys_another_caller_refreshed_meanwhile_are_not_refreshed_again() -> None:
    # Given keys none of which verified two webhooks, and a rotation at the provider since
    old, new = public_jwk(None), public_jwk(None)
    host = JwksHost(old[1])
    jwks = host.keys(FixedClock(), every=timedelta(0))
    tried = jwks.keys()
    host.document = {"keys": [new[1]]}
    jwks._lock = HeldByAnotherCaller(lambda: jwks.refreshed(since=tried))  # type: ignore[assignment]

    # When the second asks for fresh keys after the first has refetched them
    fresh = jwks.refreshed(since=tried)

    # Then it gets the first one's refetch, and the JWKS was fetched once for the rotation
    assert raw(fresh) == [new[0]]
    assert host.fetches == 2
