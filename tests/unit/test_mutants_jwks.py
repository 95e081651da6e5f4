"""Survivors of `make mutate` in providers/_jwks.py: which JWKS entries count as Ed25519 signing keys,
and strict base64url."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from videojobs.providers._jwks import _ed25519_key, _kid_of, decode_base64url

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
