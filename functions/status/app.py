"""GET /jobs/{job_id}: the job as stored."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from videojobs.api import JobIdPath, install_error_handlers, route_responses
from videojobs.entry import http_routes, lambda_entry
from videojobs.logic.jobs import get_job
from videojobs.models import JobView
from videojobs.observability import trace_job, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)


@app.get(
    "/jobs/<job_id>", summary="Get a video job", responses=route_responses(200, JobView, "The job", 404, 503)
)
@tracer.capture_method
def read_job(job_id: JobIdPath) -> JobView:
    trace_job(job_id)
    return get_job(job_id, app.context["deps"]).view()


lambda_handler = lambda_entry(http_routes(app, method="GET"))
