"""The API's OpenAPI document: the documents Powertools generates from each function behind a route,
merged into one (`python -m local.openapi` prints it)."""

from __future__ import annotations

import json
from typing import Any

from local.lambdas import load_module
from local.template import Application, read_application

TITLE = "Seedance video pipeline"
#: API Gateway's own answers, before any function runs: {"message": "..."}.
GATEWAY_MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
GATEWAY_ANSWERS = {
    "AWS_IAM": {"403": "Missing or wrong SigV4 signature, or no execute-api:Invoke permission"},
    "JWT": {"401": "Missing, invalid or expired JWT, or the wrong issuer or audience"},
    "NONE": {},
}
THROTTLED = {"429": "Over the stage's ApiThrottlingRateLimit/ApiThrottlingBurstLimit; retry later"}


def api_document(application: Application | None = None) -> dict[str, Any]:
    application = application or read_application()
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "1"},
        "paths": {},
        "components": {"schemas": {}},
    }
    for function_id in sorted({route.function_id for route in application.routes}):
        app = load_module(application.functions[function_id]).app
        part = app.get_openapi_schema(title=TITLE).model_dump(by_alias=True, exclude_none=True, mode="json")
        for path, operations in part.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            known = document["components"]["schemas"].setdefault(name, schema)
            if known != schema:
                raise ValueError(f"two functions publish different schemas named {name}")
    for route in application.routes:
        operation = document["paths"].get(route.path, {}).get(route.method.lower())
        if operation is None:
            continue  # ANY and $default routes exist to answer 404/405; they have no operation
        for status, meaning in {**GATEWAY_ANSWERS[route.authorizer], **THROTTLED}.items():
            operation["responses"].setdefault(
                status,
                {
                    "description": f"API Gateway: {meaning}",
                    "content": {"application/json": {"schema": GATEWAY_MESSAGE}},
                },
            )
    return document


if __name__ == "__main__":
    print(json.dumps(api_document(), indent=2))
