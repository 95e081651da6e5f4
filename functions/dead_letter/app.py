"""SQS (the transfer, dispatch and status-check dead-letter queues): a message that ran out of
deliveries ends its job with the reason, so no job is left waiting for work that will never happen."""

from videojobs.dependencies import Dependencies
from videojobs.entry import SqsRecord, lambda_entry, sqs_batch
from videojobs.logic.dead_letters import dead_letter_of, end_dead_lettered
from videojobs.observability import logger, metrics, trace_job, tracer


@tracer.capture_method
def dead_letter_record(record: SqsRecord, deps: Dependencies) -> None:
    try:
        message = dead_letter_of(record.body)
    except ValueError:
        # Nothing to fail: the message never named a job. Dropping it is all that is left to do.
        logger.error("unreadable dead-lettered message dropped", message_id=record.messageId)
        return
    trace_job(message.job_id)
    if end_dead_lettered(message, deps) is not None:
        metrics.add_metric(name=f"DeadLettered{type(message).__name__}", unit="Count", value=1)


lambda_handler = lambda_entry(sqs_batch(SqsRecord, dead_letter_record))
