"""HTTP face of the domain: typed errors mapped to status codes, in this one place.

Validation errors (pydantic's and our capability checks) share one body, the HTTPValidationError
schema the OpenAPI document publishes: {"detail": [{"loc": [...], "msg": "...", "type": "..."}]}.
Every other error is {"error": {"code": "...", "message": "..."}} (`ErrorBody`), and every route
declares the statuses it can answer with it (`error_responses`). No stack trace, endpoint or key
leaves the function.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Collection
from http import HTTPStatus
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from videojobs.errors import (
    DependencyUnavailable,
    InvalidCursor,
    InvalidWebhook,
    JobNotCancelable,
    JobNotFound,
    OutputNotAvailable,
    ProviderError,
    ProviderNotConfigured,
    RequestRejected,
    VideoJobError,
    WebhookConflict,
    WebhookUnauthorized,
)
from videojobs.json_limits import MAX_JSON_DEPTH
from videojobs.models import ValidationDetail
from videojobs.observability import logger
from videojobs.validation import detail_from_items, detail_from_rejection

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

ERROR_STATUS: dict[type[VideoJobError], HTTPStatus] = {
    JobNotFound: HTTPStatus.NOT_FOUND,
    JobNotCancelable: HTTPStatus.CONFLICT,
    OutputNotAvailable: HTTPStatus.CONFLICT,
    WebhookUnauthorized: HTTPStatus.UNAUTHORIZED,
    InvalidWebhook: HTTPStatus.BAD_REQUEST,
    InvalidCursor: HTTPStatus.BAD_REQUEST,
    WebhookConflict: HTTPStatus.CONFLICT,
    ProviderNotConfigured: HTTPStatus.SERVICE_UNAVAILABLE,
    DependencyUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error that is not a validation error."""

    error: ErrorDetail


#: Job ids are UUIDs; anything else is refused with 422 before a table is read.
JobIdPath = Annotated[
    str,
    Path(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="The job's id, a UUID",
    ),
]

#: What each status means, for the OpenAPI document.
_MEANING: dict[int, str] = {
    400: (
        f"Malformed: the body is not valid JSON, nests deeper than {MAX_JSON_DEPTH} levels, or a webhook"
        " body is not what its provider sends, or a list cursor that was not issued for these filters"
    ),
    401: "Missing, wrong or expired webhook token, or a bad or stale signature",
    404: "No such job, or no such route",
    405: "The route exists, with other methods (see Allow)",
    409: (
        "A webhook about another job or prediction, an Idempotency-Key still in progress, a cancel of"
        " a job that is transferring or has ended, or a link to a video or last frame the job does not"
        " have (the message names its status)"
    ),
    413: "The body is larger than this route accepts",
    415: "The body is not application/json",
    503: "A dependency is unavailable; retry",
}


def route_responses(
    success: int, model: type[BaseModel], description: str, *errors: int
) -> dict[int, OpenAPIResponse]:
    """Every status a route answers: its success with ``model``, and ``errors`` with the ErrorBody
    schema (Powertools adds 422 with the validation-error schema itself)."""
    success_response: OpenAPIResponse = {
        "description": description,
        "content": {"application/json": {"model": model}},
    }
    return {success: success_response, **_error_responses(errors)}


def redirect_responses(description: str, *errors: int) -> dict[int, OpenAPIResponse]:
    """A route that answers 302 to a URL in ``Location`` (no body), and ``errors`` as route_responses."""
    found: OpenAPIResponse = {
        "description": description,
        "headers": {
            "Location": {"description": "A presigned URL of the object", "schema": {"type": "string"}}
        },
        "content": {},  # no body (Powertools would otherwise describe the handler's return type)
    }
    return {HTTPStatus.FOUND.value: found, **_error_responses(errors)}


def _error_responses(errors: Collection[int]) -> dict[int, OpenAPIResponse]:
    return {
        status: {"description": _MEANING[status], "content": {"application/json": {"model": ErrorBody}}}
        for status in errors
    }


def redirect(location: str) -> Response[None]:
    """302 to ``location``, a presigned URL: not to be cached past its expiry, so not at all."""
    return Response(
        status_code=HTTPStatus.FOUND.value, headers={"Location": location, "Cache-Control": "no-store"}
    )


def error_response(status: HTTPStatus, code: str, message: str, **headers: str) -> Response[dict[str, Any]]:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body={"error": {"code": code, "message": message}},
        headers=headers or None,
    )


def proxy_error(status: HTTPStatus, code: str, message: str, *, allow: str | None = None) -> dict[str, Any]:
    """An error answered before the router runs, as the API Gateway proxy response itself."""
    headers = {"Content-Type": content_types.APPLICATION_JSON}
    if allow is not None:
        headers["Allow"] = allow
    return {
        "statusCode": status.value,
        "headers": headers,
        "body": json.dumps({"error": {"code": code, "message": message}}),
        "isBase64Encoded": False,
    }


def proxy_unprocessable(loc: list[str | int], msg: str, type_: str) -> dict[str, Any]:
    """A 422 answered before the router runs, in the shape of the router's own validation errors."""
    return {
        "statusCode": HTTPStatus.UNPROCESSABLE_ENTITY.value,
        "headers": {"Content-Type": content_types.APPLICATION_JSON},
        "body": json.dumps({"detail": [{"loc": loc, "msg": msg, "type": type_}]}),
        "isBase64Encoded": False,
    }


def _json(status: HTTPStatus, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return Response(status_code=status.value, content_type=content_types.APPLICATION_JSON, body=body)


def _unprocessable(detail: list[ValidationDetail]) -> Response[dict[str, Any]]:
    return _json(HTTPStatus.UNPROCESSABLE_ENTITY, {"detail": [item.model_dump() for item in detail]})


def _invalid_request(error: RequestValidationError) -> Response[dict[str, Any]]:
    if any(item.get("type") == "json_invalid" for item in error.errors()):
        return error_response(HTTPStatus.BAD_REQUEST, "malformed_json", "the body is not valid JSON")
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
    return error_response(HTTPStatus.CONFLICT, "idempotency_key_in_progress", message)


def _provider_failed(error: ProviderError) -> Response[dict[str, Any]]:
    status = HTTPStatus.SERVICE_UNAVAILABLE if error.retryable else HTTPStatus.BAD_GATEWAY
    return error_response(status, error.code, str(error))


def _domain_error(error: VideoJobError) -> Response[dict[str, Any]]:
    status = next(
        (code for kind, code in ERROR_STATUS.items() if isinstance(error, kind)),
        HTTPStatus.INTERNAL_SERVER_ERROR,
    )
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        logger.warning("request failed", error_code=error.code, error=str(error))
    return error_response(status, error.code, str(error))


def _unexpected(error: Exception) -> Response[dict[str, Any]]:
    logger.exception("unexpected error")
    return error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "internal error")


def _no_route(error: Exception) -> Response[dict[str, Any]]:
    return error_response(HTTPStatus.NOT_FOUND, "not_found", "no such route")


def install_error_handlers(app: APIGatewayHttpResolver) -> None:
    app.not_found(_no_route)
    app.exception_handler(RequestValidationError)(_invalid_request)
    app.exception_handler(RequestRejected)(_rejected)
    app.exception_handler(ProviderError)(_provider_failed)
    app.exception_handler(VideoJobError)(_domain_error)
    app.exception_handler(Exception)(_unexpected)


def install_idempotency_error_handlers(app: APIGatewayHttpResolver) -> None:
    """For routes that take an Idempotency-Key; only those load Powertools' idempotency utility.
    (A handler is found by the error's class, so these take precedence over ``Exception``'s.)"""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    app.exception_handler(IdempotencyValidationError)(_key_reused)
    app.exception_handler(IdempotencyAlreadyInProgressError)(_key_in_progress)


def reject_unknown_query_parameters(app: APIGatewayHttpResolver, known: Collection[str]) -> None:
    """A 422 naming each query parameter the route does not take (Powertools ignores them), so a
    misspelt filter is never read as no filter at all."""
    unknown = sorted(set(app.current_event.query_string_parameters or {}) - set(known))
    if unknown:
        raise RequestValidationError(
            [
                {"loc": ("query", name), "msg": "unknown query parameter", "type": "extra_forbidden"}
                for name in unknown
            ]
        )


def raw_body(app: APIGatewayHttpResolver) -> bytes:
    """The request body exactly as sent: signatures are computed over these bytes."""
    event = app.current_event
    body = event.body or ""
    return base64.b64decode(body) if event.is_base64_encoded else body.encode()


#: The API's whole OpenAPI document, every function's routes merged: `make openapi` writes it into the
#: layer (and docs/openapi.json), since a deployed function has only its own routes to describe.
OPENAPI_DOCUMENT = "openapi.json"


@functools.cache
def published_openapi_document() -> str:
    """The document as `make openapi` wrote it, read once per container."""
    return resources.files("videojobs").joinpath(OPENAPI_DOCUMENT).read_text(encoding="utf-8")
