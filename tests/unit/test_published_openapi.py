"""docs/openapi.json and the layer's copy (what GET /openapi.json serves) are the document the handlers
generate now, every route in it: `make openapi` writes both."""

import json
from pathlib import Path

import pytest

from local.openapi import WRITTEN_PATHS, api_document, document_text
from local.template import read_application
from videojobs.api import published_openapi_document

NEW_ROUTES = {
    ("post", "/uploads"),
    ("get", "/jobs/{job_id}/video"),
    ("get", "/jobs/{job_id}/last-frame"),
    ("get", "/openapi.json"),
}


@pytest.fixture(scope="module")
def fresh() -> str:
    return document_text(api_document())


@pytest.mark.parametrize("path", WRITTEN_PATHS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_each_written_copy_is_the_document_generated_now(path: Path, fresh: str) -> None:
    assert path.read_text(encoding="utf-8") == fresh, "stale: run `make openapi`"


def test_the_status_function_serves_the_layers_copy(fresh: str) -> None:
    assert published_openapi_document() == fresh


def test_the_document_has_every_route_a_function_answers_and_the_new_ones(fresh: str) -> None:
    document = json.loads(fresh)
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    # Every template route with a method of its own (ANY and $default only answer 404 and 405).
    routed = {
        (route.method.lower(), route.path)
        for route in read_application().routes
        if route.method != "ANY" and route.path != "$default"
    }

    assert operations == routed
    assert operations >= NEW_ROUTES
