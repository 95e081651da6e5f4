"""SQS (the transfer and dispatch dead-letter queues): a message that ran out of deliveries ends its job
as failed, with the reason, so no job is left waiting for work that will never happen."""

from aws_lambda_powertools.utilities.parser.models.sqs import SqsRecordModel
from pydantic import ValidationError

from videojobs.dependencies import Dependencies
from videojobs.entry import lambda_entry, sqs_batch
from videojobs.logic.dispatch import fail_dead_lettered_dispatch
from videojobs.logic.transfer import fail_dead_lettered_transfer
from videojobs.models import DispatchRequest, dead_letter_of
from videojobs.observability import logger, metrics, tracer


@tracer.capture_method
def dead_letter_record(record: SqsRecordModel, deps: Dependencies) -> None:
    try:
        message = dead_letter_of(record.body)
    except ValidationError:
        # Nothing to fail: the message never named a job. Dropping it is all that is left to do.
        logger.error("unreadable dead-lettered message dropped", message_id=record.messageId)
        return
    logger.append_keys(job_id=message.job_id)
    if isinstance(message, DispatchRequest):
        failed, metric = fail_dead_lettered_dispatch(message, deps), "DispatchesDeadLettered"
    else:
        failed, metric = fail_dead_lettered_transfer(message, deps), "TransfersDeadLettered"
    if failed is not None:
        metrics.add_metric(name=metric, unit="Count", value=1)


lambda_handler = lambda_entry(sqs_batch(SqsRecordModel, dead_letter_record))
