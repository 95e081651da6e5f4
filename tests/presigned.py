"""S3's own check of a presigned request (SigV4 in the query string), for the tests: moto's S3 does not
check presigned signatures at all (it stores any PUT to the URL, a forged signature too), so the tests
check the signature the way S3 does.

Written from AWS's description of SigV4 query authentication, not with botocore's signer (which made
the URLs): the canonical request (method, path, the query without X-Amz-Signature, each header named
in X-Amz-SignedHeaders as the request sends it, ``UNSIGNED-PAYLOAD``), the string to sign, and the
HMAC chain of the signing key. That it reproduces botocore's signature for the request the URL was
made for is what makes its "no" for any other request worth something.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def signed_headers(url: str) -> list[str]:
    """X-Amz-SignedHeaders: the headers a request to ``url`` must send as they were signed."""
    return query_of(url)["X-Amz-SignedHeaders"].split(";")


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def expected_signature(url: str, *, method: str, headers: Mapping[str, str], secret_key: str) -> str | None:
    """The signature S3 computes for ``method`` on ``url`` with these request ``headers`` (Host is the
    URL's unless given); None when a signed header is missing from them."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    sent = {name.lower(): " ".join(value.split()) for name, value in headers.items()}
    sent.setdefault("host", parts.netloc)
    names = params["X-Amz-SignedHeaders"].split(";")
    if any(name not in sent for name in names):
        return None
    canonical_query = "&".join(
        f"{_uri_encode(name)}={_uri_encode(value)}"
        for name, value in sorted(query)
        if name != "X-Amz-Signature"
    )
    canonical_request = "\n".join(
        [
            method,
            parts.path or "/",
            canonical_query,
            "".join(f"{name}:{sent[name]}\n" for name in names),
            params["X-Amz-SignedHeaders"],
            UNSIGNED_PAYLOAD,
        ]
    )
    scope = params["X-Amz-Credential"].split("/", 1)[1]  # date/region/service/aws4_request
    string_to_sign = "\n".join(
        [ALGORITHM, params["X-Amz-Date"], scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = f"AWS4{secret_key}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def s3_would_accept(
    url: str, *, method: str, headers: Mapping[str, str], secret_key: str, now: datetime | None = None
) -> bool:
    """Whether S3 takes ``method`` on ``url`` with ``headers``: the signature matches, within its expiry."""
    params = query_of(url)
    signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if (now or datetime.now(UTC)) > signed_at + timedelta(seconds=int(params["X-Amz-Expires"])):
        return False
    expected = expected_signature(url, method=method, headers=headers, secret_key=secret_key)
    return expected is not None and hmac.compare_digest(expected, params["X-Amz-Signature"])
