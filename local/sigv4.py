"""SigV4 for `execute-api`, both ways: `SigV4` signs an httpx request as any AWS client does, and
`signature_problem` checks one as API Gateway's IAM authorization does, against given credentials.

The local stack's credentials are moto's `testing`/`testing` in us-east-1.
"""

from __future__ import annotations

import hmac
from collections.abc import Generator, Mapping
from datetime import UTC, datetime, timedelta

import httpx
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.aws import REGION

SERVICE = "execute-api"
LOCAL_CREDENTIALS = Credentials("testing", "testing")
#: API Gateway refuses a signature dated more than 5 minutes off.
MAX_CLOCK_SKEW = timedelta(minutes=5)
#: Headers worth signing: stable across hops, and the ones our routes read.
_SIGNED = ("host", "content-type", "idempotency-key")


class SigV4(httpx.Auth):
    requires_request_body = True

    def __init__(self, credentials: Credentials = LOCAL_CREDENTIALS, region: str = REGION) -> None:
        self._credentials = credentials
        self._region = region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers.update(
            signature_headers(
                request.method,
                str(request.url),
                request.headers,
                request.content,
                credentials=self._credentials,
                region=self._region,
            )
        )
        yield request


def signature_headers(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: Credentials = LOCAL_CREDENTIALS,
    region: str = REGION,
) -> dict[str, str]:
    """The headers that sign a request to ``url`` (absolute: its host is signed) as an AWS client
    would: ``Authorization``, ``X-Amz-Date`` and, with a session token, ``X-Amz-Security-Token``."""
    signed = AWSRequest(
        method=method,
        url=url,
        data=body,
        headers={name: value for name, value in headers.items() if name.lower() in _SIGNED},
    )
    SigV4Auth(credentials, SERVICE, region).add_auth(signed)
    return {
        name: signed.headers[name]
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
        if name in signed.headers
    }


def signature_problem(
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: Credentials = LOCAL_CREDENTIALS,
    region: str = REGION,
    now: datetime | None = None,
) -> str | None:
    """Why the request's SigV4 signature is not acceptable, or None. ``headers`` are lower-cased."""
    scheme, _, fields = headers.get("authorization", "").partition(" ")
    if scheme != "AWS4-HMAC-SHA256":
        return "missing authentication token"
    parts = dict(item.strip().partition("=")[::2] for item in fields.split(","))
    scope = parts.get("Credential", "").split("/")
    signed_headers = [name for name in parts.get("SignedHeaders", "").split(";") if name]
    if len(scope) != 5 or scope[0] != credentials.access_key:
        return "unknown access key"
    if scope[2:] != [region, SERVICE, "aws4_request"] or "host" not in signed_headers:
        return "wrong credential scope"
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        return "missing or malformed X-Amz-Date"
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_CLOCK_SKEW or scope[1] != stamp[:8]:
        return "signature expired"
    if any(name not in headers for name in signed_headers):
        return "a signed header is missing"
    request = AWSRequest(
        method=method,
        url=f"http://{headers['host']}{target}",
        data=body,
        headers={name: headers[name] for name in signed_headers},
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(credentials, SERVICE, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        return "signature does not match"
    return None
