"""What every dialect shares: sending JSON and turning HTTP failures into ProviderError."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from videojobs.errors import InvalidWebhook, ProviderError

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def request_json(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    provider: str,
    headers: Mapping[str, str],
    json: Any = None,
) -> Any:
    try:
        response = client.request(method, url, headers=dict(headers), json=json)
    except httpx.HTTPError as error:
        raise ProviderError(f"{provider} unreachable: {type(error).__name__}", retryable=True) from error
    if response.is_success:
        try:
            return response.json()
        except ValueError as error:
            raise ProviderError(f"{provider} answered non-JSON", retryable=True) from error
    raise ProviderError(
        f"{provider} answered HTTP {response.status_code}: {_error_text(response)}",
        retryable=response.status_code in RETRYABLE_STATUS,
        status_code=response.status_code,
    )


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("message", "error", "detail", "details") if body.get(key)]
        if parts:
            return "; ".join(parts)[:300]
    return str(body)[:300]


def describe_validation_error(error: ValidationError) -> str:
    """Field and reason for each problem, without echoing the input."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
    )


def parse_wire[ModelT: BaseModel](model: type[ModelT], data: Any, *, provider: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ProviderError(
            f"{provider} answered an unexpected shape: {describe_validation_error(error)}", retryable=False
        ) from error


def parse_webhook_body[ModelT: BaseModel](model: type[ModelT], body: bytes) -> ModelT:
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        raise InvalidWebhook(describe_validation_error(error)) from error
