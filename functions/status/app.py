"""GET /jobs/{job_id}: the job as stored. GET /spend: the spending ceilings' figures."""

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

from videojobs.api import JobIdPath, install_error_handlers, route_responses
from videojobs.entry import http_routes, lambda_entry
from videojobs.logic.budget import spend_report
from videojobs.logic.jobs import get_job
from videojobs.models import JobView, SpendReport
from videojobs.observability import trace_job, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)

EndUserQuery = Annotated[
    str | None, Query(min_length=1, max_length=256, description="Also report this end user's day")
]


@app.get(
    "/jobs/<job_id>", summary="Get a video job", responses=route_responses(200, JobView, "The job", 404, 503)
)
@tracer.capture_method
def read_job(job_id: JobIdPath) -> JobView:
    trace_job(job_id)
    return get_job(job_id, app.context["deps"]).view()


@app.get(
    "/spend",
    summary="Today's and this month's spend against the ceilings",
    responses=route_responses(200, SpendReport, "The spend", 503),
)
@tracer.capture_method
def read_spend(end_user_id: EndUserQuery = None) -> SpendReport:
    return spend_report(end_user_id, app.context["deps"])


lambda_handler = lambda_entry(http_routes(app, method="GET"))
