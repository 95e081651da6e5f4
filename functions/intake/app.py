"""POST /jobs: validate the job and create the prediction at its provider."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.api import install_error_handlers
from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.submit import submit_job, submit_job_once
from videojobs.models import JobRequest, JobView
from videojobs.observability import logger, metrics, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)


@app.post("/jobs", status_code=202, summary="Submit a Seedance 2.0 video job")
@tracer.capture_method
def create_job(
    job: JobRequest,
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
    domain = app.current_event.request_context.domain_name
    fallback = f"https://{domain}" if domain else None
    if idempotency_key is None:
        created = submit_job(job, deps, fallback_base_url=fallback)
    else:
        created = submit_job_once(idempotency_key, job, deps, fallback_base_url=fallback)
    metrics.add_metric(name="JobsSubmitted", unit="Count", value=1)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=created.view())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    deps = deps or build_dependencies()
    # An in-progress key expires when this invocation would time out, not after the whole expiry.
    deps.idempotency.config.register_lambda_context(context)
    app.append_context(deps=deps)
    return app.resolve(event, context)
