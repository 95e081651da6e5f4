"""POST /jobs/{job_id}/cancel: cancel a job that awaits its provider."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from videojobs.api import JobIdPath, install_error_handlers, route_responses
from videojobs.entry import http_routes, lambda_entry
from videojobs.logic.cancel import cancel_job
from videojobs.models import JobView
from videojobs.observability import metrics, trace_job, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)


@app.post(
    "/jobs/<job_id>/cancel",
    status_code=202,
    summary="Cancel a video job",
    responses=route_responses(
        202, JobView, "The job, canceled (again: a second cancel gets the same view)", 404, 409, 503
    ),
)
@tracer.capture_method
def cancel(job_id: JobIdPath) -> Response[JobView]:
    trace_job(job_id)
    canceled = cancel_job(job_id, app.context["deps"]).view()
    metrics.add_metric(name="JobsCanceled", unit="Count", value=1)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=canceled)


lambda_handler = lambda_entry(http_routes(app, method="POST"))
