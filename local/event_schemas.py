"""JSON Schema draft-04 documents for the pipeline's EventBridge events (Schema Registry's JSONSchemaDraft4).

pydantic writes draft 2020-12; ``draft4`` rewrites what draft 4 spells differently and refuses what it
cannot express, so a schema never silently accepts more than the model does.
"""

from __future__ import annotations

import json
import re
from operator import gt, lt
from pathlib import Path
from typing import Any

import pydantic

DRAFT4 = "http://json-schema.org/draft-04/schema#"

#: Annotations draft 4 lacks and that carry no validation meaning (pydantic's OpenAPI
#: ``discriminator`` included: its oneOf still validates), so they are dropped.
_DROPPED = frozenset(
    {
        "$schema",
        "$comment",
        "examples",
        "readOnly",
        "writeOnly",
        "deprecated",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "discriminator",
    }
)
#: Validation draft 4 cannot express: refused rather than dropped.
_UNSUPPORTED = frozenset(
    {
        "if",
        "then",
        "else",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "$dynamicRef",
        "$recursiveRef",
    }
)
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_OR_BOOL = frozenset({"additionalProperties", "additionalItems"})
_RENAMED: dict[str, str] = {"$defs": "definitions", "dependentSchemas": "dependencies"}


def draft4(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic v2 ``model_json_schema()`` (draft 2020-12) as a JSON Schema draft-04 document."""
    return {"$schema": DRAFT4, **_convert(schema)}


def _convert(schema: Any) -> dict[str, Any]:
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, dict):
        raise TypeError(f"not a schema: {schema!r}")
    node: dict[str, Any] = schema
    unsupported = _UNSUPPORTED & node.keys()
    if unsupported:
        raise ValueError(f"draft 4 cannot express {sorted(unsupported)}")
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key in _SCHEMA_MAPS:
            out.setdefault(_RENAMED.get(key, key), {}).update(
                {name: _convert(sub) for name, sub in value.items()}
            )
        elif key in _SCHEMA_LISTS:
            out["items" if key == "prefixItems" else key] = [_convert(sub) for sub in value]
        elif key in _SCHEMA_OR_BOOL:
            out[key] = value if isinstance(value, bool) else _convert(value)
        elif key == "items":
            # Beside prefixItems, 2020-12's items covers the items after them: draft 4's additionalItems.
            if "prefixItems" in node:
                out["additionalItems"] = value if isinstance(value, bool) else _convert(value)
            else:
                out["items"] = (
                    [_convert(sub) for sub in value] if isinstance(value, list) else _convert(value)
                )
        elif key == "not":
            out[key] = _convert(value)
        elif key == "dependentRequired":
            out.setdefault("dependencies", {}).update(value)
        elif key == "$ref":
            out[key] = value.replace("#/$defs/", "#/definitions/", 1)
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    for bound, keyword, tighter in (("minimum", "exclusiveMinimum", gt), ("maximum", "exclusiveMaximum", lt)):
        exclusive = out.get(keyword)
        if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
            # Draft 4's exclusive bounds are booleans qualifying minimum/maximum.
            if bound in out and tighter(out[bound], exclusive):
                del out[keyword]
            else:
                out[bound], out[keyword] = exclusive, True
    if "$ref" in out and len(out) > 1:
        # Draft 4 ignores everything beside $ref; under allOf the siblings still apply.
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def event_schema(detail_type: str, source: str, detail_model: type[pydantic.BaseModel]) -> dict[str, Any]:
    """Draft 4 for a whole EventBridge event whose ``detail`` is ``detail_model`` as it is dumped."""
    detail = _convert(detail_model.model_json_schema(mode="serialization"))
    definitions = detail.pop("definitions", {})
    schema: dict[str, Any] = {
        "$schema": DRAFT4,
        "title": detail_type,
        "type": "object",
        # "account" is described but not required: EventBridge always sends it, but moto's SQS
        # targets drop it, and the envelope is EventBridge's contract rather than ours.
        "required": ["version", "id", "detail-type", "source", "time", "region", "resources", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "detail-type": {"type": "string", "enum": [detail_type]},
            "source": {"type": "string", "enum": [source]},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": detail,
        },
        # The extension keys EventBridge's own exported schemas carry, for its code bindings.
    }
    if definitions:
        schema["definitions"] = definitions
    return schema


# -- the pipeline's own events ----------------------------------------------------------------------
# `python -m local.event_schemas` (make schemas) writes schemas/*.json and the same documents into
# template.yaml's schema registry; a test fails when either is out of step with the models.

SOURCE = "seedance.video-pipeline"
SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"
TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


def pipeline_events() -> dict[str, type[pydantic.BaseModel]]:
    """Detail type -> the model of its detail. Imported late: the layer reads its environment on import."""
    from videojobs.models import (
        JOB_CANCELED,
        JOB_FAILED,
        JOB_REJECTED,
        JOB_SUCCEEDED,
        PROVIDER_HEALTH_CHANGED,
        JobEvent,
        JobRejection,
        ProviderHealthChange,
    )

    return {
        JOB_SUCCEEDED: JobEvent,
        JOB_FAILED: JobEvent,
        JOB_CANCELED: JobEvent,
        JOB_REJECTED: JobRejection,
        PROVIDER_HEALTH_CHANGED: ProviderHealthChange,
    }


def schema_name(detail_type: str) -> str:
    """``Video Job Succeeded`` -> ``VideoJobSucceeded``: the file stem and the template resource prefix."""
    return detail_type.title().replace(" ", "")


def schema_path(detail_type: str) -> Path:
    return SCHEMAS_DIR / f"{schema_name(detail_type)}.json"


def schema_text(detail_type: str) -> str:
    return json.dumps(event_schema(detail_type, SOURCE, pipeline_events()[detail_type]), indent=2) + "\n"


def template_content(detail_type: str) -> str:
    """The schema as the template's registry holds it: the same document, on one line."""
    return json.dumps(json.loads(schema_text(detail_type)), separators=(",", ":"))


_CONTENT_LINE = re.compile(r"(\n  (\w+)Schema:\n(?:    .*\n)*?      Content: >-\n        )(.*)\n")


def write() -> list[Path]:
    SCHEMAS_DIR.mkdir(exist_ok=True)
    written = []
    for detail_type in pipeline_events():
        path = schema_path(detail_type)
        path.write_text(schema_text(detail_type))
        written.append(path)
    by_name = {schema_name(detail_type): detail_type for detail_type in pipeline_events()}

    def replace(match: re.Match[str]) -> str:
        detail_type = by_name.get(match.group(2))
        if detail_type is None:
            return match.group(0)
        return f"{match.group(1)}{template_content(detail_type)}\n"

    TEMPLATE.write_text(_CONTENT_LINE.sub(replace, TEMPLATE.read_text()))
    return [*written, TEMPLATE]


if __name__ == "__main__":
    for written_path in write():
        print(f"wrote {written_path}")
