"""SQS (delayed): one status check of a job whose provider has not called back yet. A record whose next
check could not be scheduled is reported failed, so SQS delivers it again."""

from pydantic import Json

from videojobs.dependencies import Dependencies
from videojobs.entry import SqsRecord, lambda_entry, sqs_batch
from videojobs.logic.status_checks import check_job_status
from videojobs.models import StatusCheckRequest
from videojobs.observability import metrics, trace_job, tracer


class StatusCheckMessage(SqsRecord):
    body: Json[StatusCheckRequest]  # type: ignore[assignment]


@tracer.capture_method
def status_check_record(record: StatusCheckMessage, deps: Dependencies) -> None:
    trace_job(record.body.job_id)
    outcome = check_job_status(record.body, deps)
    metrics.add_metric(name=f"StatusCheck{outcome.value.title().replace('_', '')}", unit="Count", value=1)


lambda_handler = lambda_entry(sqs_batch(StatusCheckMessage, status_check_record))
