"""POST /webhooks/{provider}/{job_id}: a provider's webhook, authenticated by the job's token."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from videojobs.api import install_error_handlers, raw_body
from videojobs.bootstrap import build_dependencies
from videojobs.dependencies import Dependencies
from videojobs.logic.callback import WebhookReceipt, receive_webhook
from videojobs.models import ProviderName
from videojobs.observability import logger, metrics, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)


@app.post("/webhooks/<provider>/<job_id>", summary="Provider webhook")
@tracer.capture_method
def provider_webhook(
    provider: ProviderName, job_id: str, token: Annotated[str | None, Query()] = None
) -> WebhookReceipt:
    receipt = receive_webhook(
        provider, job_id, token, app.current_event.headers, raw_body(app), app.context["deps"]
    )
    metrics.add_metric(name=f"Webhook{receipt.effect.value.title()}", unit="Count", value=1)
    return receipt


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: Dependencies | None = None
) -> dict[str, Any]:
    app.append_context(deps=deps or build_dependencies())
    return app.resolve(event, context)
