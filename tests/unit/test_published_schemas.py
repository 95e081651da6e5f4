"""schemas/*.json and the template's schema registry hold what the event models say, and agree."""

import json

import pytest
from jsonschema import Draft4Validator

from local.event_schemas import pipeline_events, schema_path, schema_text, template_content
from local.template import load_template


@pytest.mark.parametrize("detail_type", ["Video Job Succeeded", "Video Job Failed", "Video Job Rejected"])
def test_each_event_has_a_current_schema_file_and_the_template_publishes_the_same(detail_type: str) -> None:
    assert detail_type in pipeline_events()
    path = schema_path(detail_type)

    assert path.read_text() == schema_text(detail_type), "run `make schemas`"
    Draft4Validator.check_schema(json.loads(path.read_text()))
    resources = load_template()["Resources"]
    (published,) = [
        resource["Properties"]
        for resource in resources.values()
        if resource["Type"] == "AWS::EventSchemas::Schema"
        and resource["Properties"]["SchemaName"].endswith(path.stem)
    ]
    assert published["Type"] == "JSONSchemaDraft4"
    assert published["Content"] == template_content(detail_type)
    assert json.loads(published["Content"]) == json.loads(path.read_text())
