"""SQS (delayed): one status check of a job whose provider has not called back yet."""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.status_checks import check_job_status
from videojobs.models import StatusCheckRequest
from videojobs.observability import logger, metrics, tracer


class StatusCheckMessage(SqsRecordModel):
    body: Json[StatusCheckRequest]  # type: ignore[assignment]


# A record whose next check could not be scheduled is reported failed, so SQS delivers it again.
processor = BatchProcessor(
    event_type=EventType.SQS, model=StatusCheckMessage, raise_on_entire_batch_failure=False
)


@tracer.capture_method
def status_check_record(record: StatusCheckMessage, deps: Dependencies) -> None:
    logger.append_keys(job_id=record.body.job_id)
    outcome = check_job_status(record.body, deps)
    metrics.add_metric(name=f"StatusCheck{outcome.value.title().replace('_', '')}", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    handler = partial(status_check_record, deps=deps or build_dependencies())
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
