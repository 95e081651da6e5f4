"""POST /uploads: a presigned PUT into the inputs bucket for one input file, its size and type signed in."""

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from videojobs.api import install_error_handlers, route_responses
from videojobs.entry import http_routes, lambda_entry
from videojobs.logic.uploads import grant_upload
from videojobs.models import UploadGrant, UploadRequest
from videojobs.observability import metrics, tracer

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)


@app.post(
    "/uploads",
    status_code=201,
    summary="Get a URL to upload an input file to",
    responses=route_responses(
        201, UploadGrant, "PUT the file to upload_url with these headers, then use s3_url", 400, 413, 415, 503
    ),
)
@tracer.capture_method
def create_upload(upload: UploadRequest) -> Response[UploadGrant]:
    granted = grant_upload(upload, app.context["deps"])
    metrics.add_metric(name="UploadsGranted", unit="Count", value=1)
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON, body=granted)


lambda_handler = lambda_entry(
    http_routes(
        app,
        method="POST",
        max_body_bytes=lambda deps: deps.intake_policy.max_request_bytes,
        json_bodies=True,
    )
)
