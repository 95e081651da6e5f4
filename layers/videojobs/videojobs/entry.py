"""One wrapper per kind of Lambda entry point, so each handler holds only its own parsing and its call
into the logic: the Powertools decorator stack, the composition root, HTTP routes and SQS batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models.sqs import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.observability import logger, metrics, tracer

Event = dict[str, Any]
#: What a handler does with one invocation, given the ports.
Handle = Callable[[Event, LambdaContext, Dependencies], dict[str, Any]]
LambdaHandler = Callable[..., dict[str, Any]]


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


def http_routes(app: APIGatewayHttpResolver) -> Handle:
    """An HTTP API event answered by ``app``'s routes, which find the ports in ``app.context["deps"]``."""

    def handle(event: Event, context: LambdaContext, deps: Dependencies) -> dict[str, Any]:
        app.append_context(deps=deps)  # type: ignore[no-untyped-call]
        return app.resolve(event, context)

    return handle


def sqs_batch[RecordT: SqsRecordModel](
    model: type[RecordT], work: Callable[[RecordT, Dependencies], None]
) -> Handle:
    """An SQS batch, one ``work`` call per record parsed into ``model``. A record whose work raises (or
    that does not parse) is reported in batchItemFailures, so SQS delivers it again and, in the end,
    to its dead-letter queue; the others are done."""
    processor = BatchProcessor(event_type=EventType.SQS, model=model, raise_on_entire_batch_failure=False)

    def handle(event: Event, context: LambdaContext, deps: Dependencies) -> dict[str, Any]:
        response = process_partial_response(
            event=event,
            record_handler=lambda record: work(record, deps),
            processor=processor,
            context=context,
        )
        return dict(response)

    return handle
