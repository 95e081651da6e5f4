"""HTTP face of the domain: typed errors mapped to status codes, in this one place.

Validation errors (pydantic's and our capability checks) share one body, the HTTPValidationError
schema the OpenAPI document publishes: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}.
Every other error is {"error": {"code": "...", "message": "..."}}. No stack trace leaves the function.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from videojobs.errors import (
    DependencyUnavailable,
    InvalidWebhook,
    JobNotFound,
    ProviderError,
    ProviderNotConfigured,
    RequestRejected,
    VideoJobError,
    WebhookConflict,
    WebhookUnauthorized,
)
from videojobs.models import ValidationDetail
from videojobs.observability import logger
from videojobs.validation import detail_from_items, detail_from_rejection

ERROR_STATUS: dict[type[VideoJobError], HTTPStatus] = {
    JobNotFound: HTTPStatus.NOT_FOUND,
    WebhookUnauthorized: HTTPStatus.UNAUTHORIZED,
    InvalidWebhook: HTTPStatus.BAD_REQUEST,
    WebhookConflict: HTTPStatus.CONFLICT,
    ProviderNotConfigured: HTTPStatus.SERVICE_UNAVAILABLE,
    DependencyUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
}


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body)


def _error(status: HTTPStatus, code: str, message: str) -> Response[dict[str, Any]]:
    return _json(status, {"error": {"code": code, "message": message}})


def _unprocessable(detail: list[ValidationDetail]) -> Response[dict[str, Any]]:
    return _json(HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": [item.model_dump() for item in detail]})


def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    return _unprocessable(detail_from_items(error.errors()))


def _rejected(error: RequestRejected) -> Response[dict[str, Any]]:
    return _unprocessable(detail_from_rejection(error))


def _key_reused(error: IdempotencyValidationError) -> Response[dict[str, Any]]:
    item = {
        "loc": ["header", "idempotency-key"],
        "msg": "this key was already used with a different request body",
        "type": "idempotency_key_reused",
    }
    return _json(HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": [item]})


def _key_in_progress(error: IdempotencyAlreadyInProgressError) -> Response[dict[str, Any]]:
    message = "a request with this Idempotency-Key is still being processed; retry shortly"
    return _error(HTTPStatus.CONFLICT, "idempotency_key_in_progress", message)


def _provider_failed(error: ProviderError) -> Response[dict[str, Any]]:
    status = HTTPStatus.SERVICE_UNAVAILABLE if error.retryable else HTTPStatus.BAD_GATEWAY
    return _error(status, error.code, str(error))


def _domain_error(error: VideoJobError) -> Response[dict[str, Any]]:
    status = next(
        (code for kind, code in ERROR_STATUS.items() if isinstance(error, kind)),
        HTTPStatus.INTERNAL_SERVER_ERROR,
    )
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.warning("request failed", error_code=error.code, error=str(error))
    return _error(status, error.code, str(error))


def _unexpected(error: Exception) -> Response[dict[str, Any]]:
    logger.exception("unexpected error")
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "internal error")


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(RequestRejected)(_rejected)
    app.exception_handler(IdempotencyValidationError)(_key_reused)
    app.exception_handler(IdempotencyAlreadyInProgressError)(_key_in_progress)
    app.exception_handler(ProviderError)(_provider_failed)
    app.exception_handler(VideoJobError)(_domain_error)
    app.exception_handler(Exception)(_unexpected)


def raw_body(app: APIGatewayHttpResolver) -> bytes:
    """The request body exactly as sent: signatures are computed over these bytes."""
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode()
