"""SQS: copy a finished video into S3. A failed record is retried by SQS, then dead-lettered."""

from functools import partial
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.parser.models import SqsRecordModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import Json

from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.transfer import transfer_video
from videojobs.models import TransferRequest
from videojobs.observability import logger, metrics, tracer


class TransferMessage(SqsRecordModel):
    body: Json[TransferRequest]  # type: ignore[assignment]


# Report failures per record instead of raising, so the function never errors on a bad download.
processor = BatchProcessor(
    event_type=EventType.SQS, model=TransferMessage, raise_on_entire_batch_failure=False
)


@tracer.capture_method
def transfer_record(record: TransferMessage, deps: Dependencies) -> None:
    logger.append_keys(job_id=record.body.job_id)
    if transfer_video(record.body, deps) is not None:
        metrics.add_metric(name="VideosStored", unit="Count", value=1)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    handler = partial(transfer_record, deps=deps or build_dependencies())
    return process_partial_response(event=event, record_handler=handler, processor=processor, context=context)
