"""How requests to the API are authorized: SigV4 (service `execute-api`) with botocore's standard
credential chain (environment, profiles, SSO, assumed roles, containers, instance roles), or a bearer
token for a deployment with `ApiAuthorizer=JWT`.

Pointed at a loopback address (`make local`'s API front) with no credentials configured, the client
signs with the local stack's own credentials, `testing`/`testing` in us-east-1, and never asks the
instance or container metadata endpoints: no role there could sign for a local front.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Generator

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError
from botocore.session import Session

from seedance_cli.errors import ApiRefused, UsageProblem

SERVICE = "execute-api"
LOCAL_CREDENTIALS = Credentials("testing", "testing")
LOCAL_REGION = "us-east-1"
#: An HTTP API's default endpoint names its region.
_API_GATEWAY_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
#: Headers worth signing: stable across hops, and the ones the routes read.
_SIGNED = ("host", "content-type", "idempotency-key")
#: Credential providers that ask the network (instance and container metadata), skipped for loopback.
_METADATA_PROVIDERS = ("iam-role", "container-role")


class AwsSigV4(httpx.Auth):
    """Signs each request as any AWS SDK does; temporary credentials are refreshed as they expire."""

    requires_request_body = True

    def __init__(self, credentials: Credentials, region: str) -> None:
        self.credentials = credentials
        self.region = region

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        headers = {name: value for name, value in request.headers.items() if name.lower() in _SIGNED}
        signed = AWSRequest(
            method=request.method, url=str(request.url), data=request.content, headers=headers
        )
        SigV4Auth(self.credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token"):
            if name in signed.headers:
                request.headers[name] = signed.headers[name]
        yield request


class BearerToken(httpx.Auth):
    """`Authorization: Bearer <JWT>`, for a deployment whose routes take a JWT."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def is_loopback(api_url: str) -> bool:
    host = httpx.URL(api_url).host
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def region_in(api_url: str) -> str | None:
    """The region an `execute-api` endpoint names, or None (a custom domain, a local front)."""
    found = _API_GATEWAY_HOST.search(httpx.URL(api_url).host)
    return found.group(1) if found else None


def aws_auth(api_url: str, *, profile: str | None = None) -> AwsSigV4:
    """SigV4 with the first credentials botocore's chain finds (``profile`` names the profile to use,
    else AWS_PROFILE and the chain's usual order), the local credentials for a loopback API when the
    chain finds none."""
    loopback = is_loopback(api_url)
    try:
        session = Session(profile=profile)
        if loopback:
            resolver = session.get_component("credential_provider")
            for method in _METADATA_PROVIDERS:
                resolver.remove(method)
        credentials = session.get_credentials()
        configured_region = session.get_config_variable("region") or os.environ.get("AWS_REGION")
    except BotoCoreError as error:
        raise ApiRefused(f"AWS credentials: {error}") from None
    if credentials is None:
        if loopback and profile is None:
            return AwsSigV4(LOCAL_CREDENTIALS, LOCAL_REGION)
        raise ApiRefused(
            "no AWS credentials found (environment, profiles, SSO); sign in, set AWS_PROFILE or pass --token"
        )
    region = region_in(api_url) or configured_region or (LOCAL_REGION if loopback else None)
    if region is None:
        raise UsageProblem(f"no AWS region for {api_url}: set AWS_REGION or the profile's region")
    return AwsSigV4(credentials, str(region))


def authorization(api_url: str, *, token: str | None, profile: str | None) -> httpx.Auth:
    """A bearer token when one is given, else SigV4."""
    if token:
        return BearerToken(token)
    return aws_auth(api_url, profile=profile)
