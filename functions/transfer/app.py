"""SQS: copy a finished video into S3. A failed record is retried by SQS, then dead-lettered; the
function reports failures per record instead of raising, so a bad download never fails the batch."""

from pydantic import Json

from videojobs.dependencies import Dependencies
from videojobs.entry import SqsRecord, lambda_entry, sqs_batch
from videojobs.logic.transfer import transfer_video
from videojobs.models import TransferRequest
from videojobs.observability import metrics, trace_job, tracer


class TransferMessage(SqsRecord):
    body: Json[TransferRequest]  # type: ignore[assignment]


@tracer.capture_method
def transfer_record(record: TransferMessage, deps: Dependencies) -> None:
    trace_job(record.body.job_id)
    if transfer_video(record.body, deps) is not None:
        metrics.add_metric(name="VideosStored", unit="Count", value=1)


lambda_handler = lambda_entry(sqs_batch(TransferMessage, transfer_record))
