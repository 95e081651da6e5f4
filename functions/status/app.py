"""GET /jobs/{job_id}: the job as stored."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.api import install_error_handlers
from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.jobs import get_job
from videojobs.models import JobView
from videojobs.observability import logger, metrics, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)


@app.get("/jobs/<job_id>", summary="Get a video job")
@tracer.capture_method
def read_job(job_id: str) -> JobView:
    return get_job(job_id, app.context["deps"]).view()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    app.append_context(deps=deps or build_dependencies())
    return app.resolve(event, context)
