"""The intake, behind every door: POST /jobs, and (through the intake queue) S3 drops and
"Video Job Requested" events. It validates, stores the job as queued and queues it for submission."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.api import install_error_handlers, install_idempotency_error_handlers, route_responses
from videojobs.catalog.request_schema import PublishedJobRequest
from videojobs.dependencies import Dependencies
from videojobs.entry import SqsRecord, http_routes, lambda_entry, sqs_batch
from videojobs.logic.doors import take_intake_message
from videojobs.logic.intake import accept_http_job_once, accept_job
from videojobs.models import HttpOrigin, JobView
from videojobs.observability import metrics, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)
install_idempotency_error_handlers(app)


@app.post(
    "/jobs",
    status_code=202,
    summary="Submit a Seedance 2.0 video job",
    responses=route_responses(202, JobView, "The job, stored as queued", 400, 409, 413, 415, 503),
)
@tracer.capture_method
def create_job(
    job: PublishedJobRequest,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="idempotency-key",
            min_length=1,
            max_length=255,
            description="Retries with the same key and body return the first job instead of a new one",
        ),
    ] = None,
) -> Response[JobView]:
    deps = app.context["deps"]
    if idempotency_key is None:
        accepted = accept_job(job, HttpOrigin(), deps).job
    else:
        accepted = accept_http_job_once(idempotency_key, job, deps)
    metrics.add_metric(name="JobsAccepted", unit="Count", value=1)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=accepted.view())


@tracer.capture_method
def intake_record(record: SqsRecord, deps: Dependencies) -> None:
    for outcome in take_intake_message(record.body, deps):
        metrics.add_metric(name=f"Intake{outcome.value.title()}", unit="Count", value=1)


# GET /jobs has a route of its own (the status function); any other method on /jobs comes here.
answer_http = http_routes(
    app,
    method="GET, POST",
    max_body_bytes=lambda deps: deps.intake_policy.max_request_bytes,
    json_bodies=True,
)
# A record whose job could not be stored or queued is reported failed, so SQS delivers it again.
take_records = sqs_batch(SqsRecord, intake_record)


def handle(event: dict[str, Any], context: LambdaContext, deps: Dependencies) -> dict[str, Any]:
    """Both kinds of event: the intake queue's SQS batches, and POST /jobs."""
    if "Records" in event:
        return take_records(event, context, deps)
    # An in-progress Idempotency-Key expires when this invocation would time out, not after a day.
    deps.idempotency.config.register_lambda_context(context)
    return answer_http(event, context, deps)


lambda_handler = lambda_entry(handle)
