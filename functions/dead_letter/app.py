"""SQS (the transfer and dispatch dead-letter queues): a message that ran out of deliveries ends its job
as failed, with the reason, so no job is left waiting for work that will never happen."""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.dispatch import fail_dead_lettered_dispatch
from videojobs.logic.transfer import fail_dead_lettered_transfer
from videojobs.models import DeadLetter, DispatchRequest, dead_letter_of
from videojobs.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@tracer.capture_method
def dead_letter_record(record: SQSRecord, deps: Dependencies) -> None:
    try:
        message: DeadLetter = dead_letter_of(record.body)
    except ValidationError:
        # Nothing to fail: the message never named a job. Dropping it is all that is left to do.
        logger.error("unreadable dead-lettered message dropped", message_id=record.message_id)
        return
    logger.append_keys(job_id=message.job_id)
    if isinstance(message, DispatchRequest):
        failed = fail_dead_lettered_dispatch(message, deps)
        metric = "DispatchesDeadLettered"
    else:
        failed = fail_dead_lettered_transfer(message, deps)
        metric = "TransfersDeadLettered"
    if failed is not None:
        metrics.add_metric(name=metric, unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    handler = partial(dead_letter_record, deps=deps or build_dependencies())
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
