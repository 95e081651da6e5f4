"""SQS (the dispatch queue): create the prediction at the provider, with our webhook_url, within the
provider's limits per API key. A job that must wait goes back on the queue with a delay."""

from pydantic import Json

from videojobs.dependencies import Dependencies
from videojobs.entry import SqsRecord, lambda_entry, sqs_batch
from videojobs.logic.dispatch import dispatch_job
from videojobs.models import DispatchRequest
from videojobs.observability import metrics, trace_job, tracer


class DispatchMessage(SqsRecord):
    body: Json[DispatchRequest]  # type: ignore[assignment]


@tracer.capture_method
def dispatch_record(record: DispatchMessage, deps: Dependencies) -> None:
    trace_job(record.body.job_id)
    outcome = dispatch_job(record.body, deps)
    metrics.add_metric(name=f"Dispatch{outcome.value.title().replace('_', '')}", unit="Count", value=1)


lambda_handler = lambda_entry(sqs_batch(DispatchMessage, dispatch_record))
