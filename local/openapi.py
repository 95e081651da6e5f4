"""The API's OpenAPI document: the documents Powertools generates from each function behind a route,
merged into one (`python -m local.openapi` prints it)."""

from __future__ import annotations

import json
from typing import Any

from local.lambdas import load_module
from local.template import Application, read_application

TITLE = "Seedance video pipeline"


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
    return document


if __name__ == "__main__":
    print(json.dumps(api_document(), indent=2))
