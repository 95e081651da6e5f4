"""SQS (the dispatch queue): create the prediction at the provider, with our webhook_url, within the
provider's limits per API key. A job that must wait goes back on the queue with a delay."""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models.sqs import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.dispatch import dispatch_job
from videojobs.models import DispatchRequest
from videojobs.observability import logger, metrics, tracer


class DispatchMessage(SqsRecordModel):
    body: Json[DispatchRequest]  # type: ignore[assignment]


processor = BatchProcessor(
    event_type=EventType.SQS, model=DispatchMessage, raise_on_entire_batch_failure=False
)


@tracer.capture_method
def dispatch_record(record: DispatchMessage, deps: Dependencies) -> None:
    logger.append_keys(job_id=record.body.job_id)
    outcome = dispatch_job(record.body, deps)
    metrics.add_metric(name=f"Dispatch{outcome.value.title().replace('_', '')}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    handler = partial(dispatch_record, deps=deps or build_dependencies())
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
