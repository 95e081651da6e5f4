"""POST /jobs: validate the job and create the prediction at its provider."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.api import install_error_handlers
from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.submit import submit_job
from videojobs.models import JobRequest, JobView
from videojobs.observability import logger, metrics, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)


@app.post("/jobs", status_code=202, summary="Submit a Seedance 2.0 video job")
@tracer.capture_method
def create_job(job: JobRequest) -> Response[JobView]:
    domain = app.current_event.request_context.domain_name
    created = submit_job(job, app.context["deps"], fallback_base_url=f"https://{domain}" if domain else None)
    metrics.add_metric(name="JobsSubmitted", unit="Count", value=1)
    return Response(status_code=202, content_type=content_types.APPLICATION_JSON, body=created.view())


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    app.append_context(deps=deps or build_dependencies())
    return app.resolve(event, context)
