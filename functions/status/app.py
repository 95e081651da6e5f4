"""GET /jobs/{job_id}: the job as stored. GET /jobs: the jobs, newest first, filtered and paged.
GET /jobs/{job_id}/video and /last-frame: redirects to the stored files. GET /spend: the spending
ceilings' figures. GET /providers: each provider's state. GET /openapi.json: the API's document."""

import inspect
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query

from videojobs.api import (
    JobIdPath,
    install_error_handlers,
    published_openapi_document,
    redirect,
    redirect_responses,
    reject_unknown_query_parameters,
    route_responses,
)
from videojobs.entry import http_routes, lambda_entry
from videojobs.logic.budget import spend_report
from videojobs.logic.jobs import get_job, list_jobs, output_url
from videojobs.logic.providers import ProvidersReport, providers_report
from videojobs.models import (
    JobListFilters,
    JobListPage,
    JobStatus,
    JobView,
    OriginKind,
    ProviderName,
    Rfc3339Time,
    SpendReport,
)
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
    "/jobs/<job_id>/video",
    summary="Download a job's video",
    responses=redirect_responses("A presigned GET of the video (OUTPUT_URL_EXPIRY_SECONDS)", 404, 409, 503),
)
@tracer.capture_method
def read_video(job_id: JobIdPath) -> Response[None]:
    trace_job(job_id)
    reject_unknown_query_parameters(app, set())
    return redirect(output_url(job_id, "video", app.context["deps"]))


@app.get(
    "/jobs/<job_id>/last-frame",
    summary="Download a job's last frame",
    responses=redirect_responses(
        "A presigned GET of the last frame (OUTPUT_URL_EXPIRY_SECONDS)", 404, 409, 503
    ),
)
@tracer.capture_method
def read_last_frame(job_id: JobIdPath) -> Response[None]:
    trace_job(job_id)
    reject_unknown_query_parameters(app, set())
    return redirect(output_url(job_id, "last frame", app.context["deps"]))


@app.get(
    "/jobs",
    summary="List video jobs, newest first",
    responses=route_responses(200, JobListPage, "One page of jobs; next_cursor continues it", 400, 503),
)
@tracer.capture_method
def list_job_page(
    status: Annotated[JobStatus | None, Query(description="Only jobs in this status")] = None,
    provider: Annotated[ProviderName | None, Query(description="Only this provider's jobs")] = None,
    client_reference: Annotated[
        str | None, Query(min_length=1, max_length=256, description="Only jobs with this client_reference")
    ] = None,
    end_user_id: Annotated[
        str | None, Query(min_length=1, max_length=256, description="Only this end user's jobs")
    ] = None,
    origin: Annotated[OriginKind | None, Query(description="Only jobs that came through this door")] = None,
    created_after: Annotated[
        Rfc3339Time | None, Query(description="Only jobs created after this moment (RFC 3339)")
    ] = None,
    created_before: Annotated[
        Rfc3339Time | None, Query(description="Only jobs created before this moment (RFC 3339)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many jobs")] = 25,
    cursor: Annotated[
        str | None, Query(min_length=1, max_length=2048, description="next_cursor of the page before")
    ] = None,
) -> JobListPage:
    reject_unknown_query_parameters(app, LIST_QUERY_PARAMETERS)
    filters = JobListFilters(
        status=status,
        provider=provider,
        client_reference=client_reference,
        end_user_id=end_user_id,
        origin=origin,
        created_after=created_after,
        created_before=created_before,
    )
    return list_jobs(filters, limit=limit, cursor=cursor, deps=app.context["deps"])


LIST_QUERY_PARAMETERS = frozenset(inspect.signature(list_job_page).parameters)


@app.get(
    "/spend",
    summary="Today's and this month's spend against the ceilings",
    responses=route_responses(200, SpendReport, "The spend", 503),
)
@tracer.capture_method
def read_spend(end_user_id: EndUserQuery = None) -> SpendReport:
    reject_unknown_query_parameters(app, {"end_user_id"})
    return spend_report(end_user_id, app.context["deps"])


@app.get(
    "/providers",
    summary="Each provider: enabled, what it serves, its price, limits, slots in use and health",
    responses=route_responses(200, ProvidersReport, "Every provider", 503),
)
@tracer.capture_method
def read_providers() -> ProvidersReport:
    reject_unknown_query_parameters(app, set())
    return providers_report(app.context["deps"])


@app.get(
    "/openapi.json",
    summary="This API's OpenAPI document: every route",
    compress=True,
    responses={
        200: {
            "description": "The OpenAPI 3.1 document",
            "content": {content_types.APPLICATION_JSON: {"schema": {"type": "object"}}},
        }
    },
)
@tracer.capture_method
def read_openapi_document() -> Response[str]:
    reject_unknown_query_parameters(app, set())
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=published_openapi_document()
    )


lambda_handler = lambda_entry(http_routes(app, method="GET"))
