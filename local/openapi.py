"""The API's OpenAPI document: the documents Powertools generates from each function behind a route,
merged into one (`python -m local.openapi` prints it; `make openapi`, that is `--write`, writes it to
docs/openapi.json and into the layer, where GET /openapi.json serves it from).

Powertools' own OpenAPIMerge discovers the handler files at run time, and a deployed function has only
its own; it also lets the last of two different component schemas of one name win, where this refuses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from local.lambdas import load_module
from local.template import ROOT, Application, read_application

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


#: Where `make openapi` writes the document: the manual's copy, and the one the status function serves.
WRITTEN_PATHS = (ROOT / "docs" / "openapi.json", ROOT / "layers" / "videojobs" / "videojobs" / "openapi.json")


def document_text(document: dict[str, Any] | None = None) -> str:
    return json.dumps(api_document() if document is None else document, indent=2) + "\n"


def write() -> list[Path]:
    text = document_text()
    for path in WRITTEN_PATHS:
        path.write_text(text, encoding="utf-8")
    return list(WRITTEN_PATHS)


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        for written_path in write():
            print(f"wrote {written_path.relative_to(ROOT)}")
    else:
        print(document_text(), end="")
