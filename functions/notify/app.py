"""SQS (the notify queue): POST a job's outcome to its notify_url, signed as Standard Webhooks, and
schedule the next try when the caller does not take it."""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models.sqs import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.notify import NotifyMessage, notify_caller
from videojobs.observability import logger, metrics, tracer


class NotifyQueueMessage(SqsRecordModel):
    body: Json[NotifyMessage]  # type: ignore[assignment]


processor = BatchProcessor(
    event_type=EventType.SQS, model=NotifyQueueMessage, raise_on_entire_batch_failure=False
)


@tracer.capture_method
def notify_record(record: NotifyQueueMessage, deps: Dependencies) -> None:
    logger.append_keys(job_id=record.body.detail.job_id)
    outcome = notify_caller(record.body, deps)
    metrics.add_metric(name=f"Notification{outcome.value.title().replace('_', '')}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    handler = partial(notify_record, deps=deps or build_dependencies())
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
