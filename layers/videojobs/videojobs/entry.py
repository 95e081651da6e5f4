"""One wrapper per kind of Lambda entry point, so each handler holds only its own parsing and its call
into the logic: the Powertools decorator stack, the composition root, HTTP routes and SQS batches."""

from __future__ import annotations

import base64
from collections.abc import Callable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from videojobs import json_limits, snapstart
from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

Event = dict[str, Any]
#: What a handler does with one invocation, given the ports.
Handle = Callable[[Event, LambdaContext, Dependencies], dict[str, Any]]
LambdaHandler = Callable[..., dict[str, Any]]


class SqsRecord(BaseModel):
    """One record of an SQS event, with Powertools' field names (its SqsRecordModel). Powertools'
    module cannot be imported alone: its package loads every event model, ~70 ms of each SQS
    function's cold start. Subclasses narrow ``body`` to their message."""

    model_config = ConfigDict(extra="allow")

    messageId: str  # noqa: N815 - SQS's own name
    receiptHandle: str = ""  # noqa: N815
    body: str
    attributes: dict[str, Any] = {}
    messageAttributes: dict[str, Any] = {}  # noqa: N815
    eventSource: str = "aws:sqs"  # noqa: N815
    eventSourceARN: str = ""  # noqa: N815
    awsRegion: str = ""  # noqa: N815


def lambda_entry(handle: Handle) -> LambdaHandler:
    """The function's ``lambda_handler``: logging context, tracing and metrics around ``handle``, with
    the real ports unless a test passes its own as ``deps``."""

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    @metrics.log_metrics
    def lambda_handler(
        event: Event, context: LambdaContext, deps: Dependencies | None = None
    ) -> dict[str, Any]:
        return handle(event, context, deps or build_dependencies())

    return lambda_handler


def http_routes(
    app: APIGatewayHttpResolver,
    *,
    method: str,
    max_body_bytes: Callable[[Dependencies], int] | None = None,
    json_bodies: bool = False,
) -> Handle:
    """An HTTP API event answered by ``app``'s routes, which find the ports in ``app.context["deps"]``.

    Before anything is parsed: a request that came through the path's ``ANY`` route (API Gateway's
    choice when no route has its method) is 405, naming ``method``; a body over ``max_body_bytes``
    is 413; a body whose JSON nests deeper than ``MAX_JSON_DEPTH`` is 400. With ``json_bodies``, a
    body that does not say it is JSON is 415, one that is not JSON is 400, and one that is JSON but
    not an object is 422 (Powertools would take the first item of an array for the object).
    """
    # Here, not at the top: a function on SQS alone never loads the HTTP side.
    from videojobs.api import proxy_error, proxy_unprocessable

    snapstart.prime_routes(app)

    def handle(event: Event, context: LambdaContext, deps: Dependencies) -> dict[str, Any]:
        if str(event.get("routeKey", "")).startswith("ANY "):
            return proxy_error(
                HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"use {method} here", allow=method
            )
        body = event.get("body") or ""
        size = len(body) * 3 // 4 if event.get("isBase64Encoded") else len(body.encode())
        if max_body_bytes is not None and size > (limit := max_body_bytes(deps)):
            return proxy_error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", f"the body is over {limit} bytes"
            )
        headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if json_bodies and body and media_type != "application/json":
            message = "send the body as application/json"
            return proxy_error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
        text = _text_of(body, base64_encoded=bool(event.get("isBase64Encoded")))
        if json_bodies and body and text is None:
            # JSON is UTF-8; API Gateway hands on any other body base64-encoded.
            return proxy_error(HTTPStatus.BAD_REQUEST, "malformed_json", "the body is not valid JSON")
        if text:
            try:
                if not json_bodies:
                    json_limits.check_depth(text)  # the provider's adapter parses it
                elif not isinstance(json_limits.loads(text), dict):
                    return proxy_unprocessable(["body"], "the body must be a JSON object", "dict_type")
            except json_limits.JsonTooDeep as too_deep:
                return proxy_error(HTTPStatus.BAD_REQUEST, "malformed_json", str(too_deep))
            except ValueError:
                return proxy_error(HTTPStatus.BAD_REQUEST, "malformed_json", "the body is not valid JSON")
        app.append_context(deps=deps)  # type: ignore[no-untyped-call]
        return app.resolve(event, context)

    return handle


def _text_of(body: str, *, base64_encoded: bool) -> str | None:
    """The body as text; None when it is not UTF-8."""
    if not base64_encoded:
        return body
    try:
        return base64.b64decode(body).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def sqs_batch[RecordT: SqsRecord](
    model: type[RecordT], work: Callable[[RecordT, Dependencies], None]
) -> Handle:
    """An SQS batch, one ``work`` call per record parsed into ``model``. A record whose work raises (or
    that does not parse) is reported in batchItemFailures, so SQS delivers it again and, in the end,
    to its dead-letter queue; the others are done.

    This is what Powertools' BatchProcessor does with an SQS model and no raising on a whole failed
    batch; the batch utility would also load every other event source's record types (DynamoDB,
    Kinesis, Kafka) into each function, tens of milliseconds of its cold start."""

    def handle(event: Event, context: LambdaContext, deps: Dependencies) -> dict[str, Any]:
        records = event.get("Records")
        if not isinstance(records, list):
            raise ValueError("not an SQS event: there are no Records")
        failures: list[dict[str, str]] = []
        for record in records:
            try:
                work(model.model_validate(record), deps)
            except Exception:
                # This record's failure alone: SQS delivers it again, the others are done.
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    return handle
