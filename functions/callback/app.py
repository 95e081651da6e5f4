"""POST /webhooks/{provider}/{job_id}: a provider's webhook, authenticated by the job's token."""

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Query

from videojobs.api import JobIdPath, install_error_handlers, raw_body, route_responses
from videojobs.entry import http_routes, lambda_entry
from videojobs.logic.callback import WebhookReceipt, receive_webhook
from videojobs.models import ProviderName
from videojobs.observability import metrics, trace_job, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)


@app.post(
    "/webhooks/<provider>/<job_id>",
    summary="Provider webhook",
    responses=route_responses(200, WebhookReceipt, "What the webhook did", 400, 401, 404, 409, 413, 503),
)
@tracer.capture_method
def provider_webhook(
    provider: ProviderName, job_id: JobIdPath, token: Annotated[str | None, Query()] = None
) -> WebhookReceipt:
    trace_job(job_id)
    receipt = receive_webhook(
        provider, job_id, token, app.current_event.headers, raw_body(app), app.context["deps"]
    )
    metrics.add_metric(name=f"Webhook{receipt.effect.value.title()}", unit="Count", value=1)
    return receipt


lambda_handler = lambda_entry(
    http_routes(app, method="POST", max_body_bytes=lambda deps: deps.max_webhook_bytes)
)
