"""SQS (the notify queue): POST a job's outcome to its notify_url, signed as Standard Webhooks, and
schedule the next try when the caller does not take it."""

from pydantic import Json

from videojobs.dependencies import Dependencies
from videojobs.entry import SqsRecord, lambda_entry, sqs_batch
from videojobs.logic.notify import NotifyMessage, notify_caller
from videojobs.observability import metrics, trace_job, tracer


class NotifyQueueMessage(SqsRecord):
    body: Json[NotifyMessage]  # type: ignore[assignment]


@tracer.capture_method
def notify_record(record: NotifyQueueMessage, deps: Dependencies) -> None:
    trace_job(record.body.detail.job_id)
    outcome = notify_caller(record.body, deps)
    metrics.add_metric(name=f"Notification{outcome.value.title().replace('_', '')}", unit="Count", value=1)


lambda_handler = lambda_entry(sqs_batch(NotifyQueueMessage, notify_record))
