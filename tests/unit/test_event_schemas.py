"""Draft-04 JSON Schemas from pydantic models, for EventBridge Schema Registry (JSONSchemaDraft4)."""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

import jsonschema
import pytest
from jsonschema import Draft4Validator
from pydantic import BaseModel, ConfigDict, Field

from local.event_schemas import DRAFT4, draft4, event_schema
from videojobs.models import JobView


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    x: int = Field(gt=0, lt=100)
    y: int = Field(ge=0, le=10, description="inclusive bounds")


class Shape(BaseModel):
    """A test model with most of what pydantic's schemas can hold."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["shape"] = "shape"
    colour: Colour
    corners: list[Point] = Field(max_length=3)
    centre: Point | None = None
    label: str | None = Field(
        default=None, min_length=1, examples=["a"], json_schema_extra={"readOnly": True, "deprecated": True}
    )
    drawn_at: datetime
    counts: dict[str, int] = Field(default_factory=dict)
    pair: tuple[int, str] | None = None
    ratio: float = Field(default=0.5, gt=0, le=1)


def shape(**overrides: Any) -> dict[str, Any]:
    valid = Shape(
        colour=Colour.RED,
        corners=[Point(x=1, y=0), Point(x=99, y=10)],
        centre=Point(x=50, y=5),
        label="triangle",
        drawn_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
        counts={"a": 1},
        pair=(1, "one"),
    ).model_dump(mode="json")
    return {**valid, **overrides}


@pytest.fixture(scope="module")
def shape_validator() -> Draft4Validator:
    schema = draft4(Shape.model_json_schema())
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def keywords(schema: Any) -> set[str]:
    """Every key anywhere in the document (property names included, which is fine for absence checks)."""
    if isinstance(schema, dict):
        return set(schema) | {key for value in schema.values() for key in keywords(value)}
    if isinstance(schema, list):
        return {key for value in schema for key in keywords(value)}
    return set()


def test_the_converted_schema_is_draft4_throughout() -> None:
    original = Shape.model_json_schema()
    dropped_or_renamed = {
        "$defs",
        "const",
        "exclusiveMinimum",
        "prefixItems",
        "examples",
        "readOnly",
        "deprecated",
    }
    assert dropped_or_renamed <= keywords(original)
    schema = draft4(original)
    Draft4Validator.check_schema(schema)
    assert schema["$schema"] == DRAFT4
    assert set(schema["definitions"]) == {"Colour", "Point"}
    assert not (dropped_or_renamed - {"exclusiveMinimum"}) & keywords(schema)
    assert "#/$defs/" not in str(schema)
    properties = schema["properties"]
    assert properties["kind"]["enum"] == ["shape"]
    assert properties["drawn_at"]["format"] == "date-time"
    assert properties["ratio"] | {"title": None} == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 1,
        "default": 0.5,
        "title": None,
    }
    assert schema["definitions"]["Point"]["properties"]["y"]["description"] == "inclusive bounds"


def test_a_dumped_instance_validates(shape_validator: Draft4Validator) -> None:
    shape_validator.validate(shape())
    shape_validator.validate(shape(centre=None, label=None, pair=None, counts={}, corners=[]))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "blue"}, "is not one of"),
        ({"kind": "circle"}, "is not one of"),
        ({"drawn_at": 5}, "is not of type"),
        ({"counts": {"a": "many"}}, "is not of type"),
        ({"corners": [{"x": 1, "y": 1}] * 4}, "is too long"),
        ({"corners": [{"x": 0, "y": 1}]}, "less than or equal to the minimum"),
        ({"corners": [{"x": 100, "y": 1}]}, "greater than or equal to the maximum"),
        ({"centre": {"x": 1, "y": 11}}, "is not valid under any of the given schemas"),
        ({"ratio": 0}, "less than or equal to the minimum"),
        ({"ratio": 1.5}, "greater than the maximum"),
        ({"pair": ["one", 1]}, "is not valid under any of the given schemas"),
        ({"surplus": True}, "Additional properties are not allowed"),
    ],
)
def test_wrong_instances_fail(
    shape_validator: Draft4Validator, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(jsonschema.ValidationError, match=message):
        shape_validator.validate(shape(**overrides))


def test_a_missing_required_field_fails(shape_validator: Draft4Validator) -> None:
    instance = shape()
    del instance["colour"]
    with pytest.raises(jsonschema.ValidationError, match="'colour' is a required property"):
        shape_validator.validate(instance)


def test_exclusive_and_inclusive_bounds_together_keep_the_tighter() -> None:
    assert draft4({"type": "integer", "minimum": 5, "exclusiveMinimum": 3}) == {
        "$schema": DRAFT4,
        "type": "integer",
        "minimum": 5,
    }
    assert draft4({"type": "integer", "maximum": 5, "exclusiveMaximum": 5})["exclusiveMaximum"] is True


def test_prefix_items_become_the_items_array_and_items_beside_them_additional_items() -> None:
    converted = draft4({"type": "array", "prefixItems": [{"type": "integer"}], "items": False})
    assert converted["items"] == [{"type": "integer"}]
    assert converted["additionalItems"] is False
    Draft4Validator.check_schema(converted)


def test_a_ref_with_siblings_goes_under_all_of_so_the_siblings_still_apply() -> None:
    converted = draft4(
        {
            "$defs": {"N": {"type": "integer"}},
            "properties": {"n": {"$ref": "#/$defs/N", "maximum": 3}},
        }
    )
    assert converted["properties"]["n"] == {"allOf": [{"$ref": "#/definitions/N"}], "maximum": 3}
    with pytest.raises(jsonschema.ValidationError):
        Draft4Validator(converted).validate({"n": 4})


def test_what_draft4_cannot_express_is_refused() -> None:
    with pytest.raises(ValueError, match="propertyNames"):
        draft4({"type": "object", "properties": {"a": {"propertyNames": {"maxLength": 2}}}})


def event(detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": "test.shapes",
        "account": "123456789012",
        "time": "2026-11-30T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def test_event_schema_accepts_the_event_and_refuses_another_detail_type() -> None:
    schema = event_schema("Shape Drawn", "test.shapes", Shape)
    Draft4Validator.check_schema(schema)
    assert set(schema["definitions"]) == {"Colour", "Point"}
    assert "definitions" not in schema["properties"]["detail"]
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    validator.validate(event("Shape Drawn", shape()))
    with pytest.raises(jsonschema.ValidationError, match="is not one of"):
        validator.validate(event("Shape Erased", shape()))
    with pytest.raises(jsonschema.ValidationError, match="is not one of"):
        validator.validate({**event("Shape Drawn", shape()), "source": "test.other"})
    with pytest.raises(jsonschema.ValidationError, match="'detail' is a required property"):
        validator.validate({k: v for k, v in event("Shape Drawn", shape()).items() if k != "detail"})
    with pytest.raises(jsonschema.ValidationError, match="is not one of"):
        validator.validate(event("Shape Drawn", shape(colour="blue")))


def job_view() -> dict[str, Any]:
    """A succeeded job's view as the "Video Job Succeeded" event carries it."""
    return JobView.model_validate(
        {
            "job_id": "0b3c2f4e-7a51-4c39-9a57-2f0d1c6e8b90",
            "provider": "eachlabs",
            "status": "succeeded",
            "origin": {
                "kind": "s3",
                "bucket": "inputs",
                "key": "drops/batch.jsonl",
                "etag": "abc",
                "line": 2,
            },
            "client_reference": "order-17",
            "provider_job_id": "pred_123",
            "video": {
                "bucket": "outputs",
                "key": "videos/0b3c2f4e.mp4",
                "size_bytes": 1048576,
                "sha256": "0" * 64,
                "content_type": "video/mp4",
            },
            "last_frame": None,
            "cost_estimate_usd": 1.4514,
            "error": None,
            "notification": {"status": "delivered", "attempts": 1},
            "created_at": "2026-11-30T11:58:00Z",
            "updated_at": "2026-11-30T12:00:00Z",
            "request": {
                "provider": "eachlabs",
                "prompt": "a red fox in the snow",
                "first_frame_url": "s3://inputs/fox.png",
                "duration": 6,
                "seed": 42,
                "client_reference": "order-17",
            },
        }
    ).model_dump(mode="json")


def test_the_real_job_view_gives_a_valid_schema_that_its_dumps_meet() -> None:
    schema = event_schema("Video Job Succeeded", "seedance.video-pipeline", JobView)
    Draft4Validator.check_schema(schema)
    assert "$defs" not in keywords(schema)
    validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    detail = job_view()
    validator.validate({**event("Video Job Succeeded", detail), "source": "seedance.video-pipeline"})
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(
            {
                **event("Video Job Succeeded", {**detail, "status": "lost"}),
                "source": "seedance.video-pipeline",
            }
        )
