"""JSON nesting is measured without recursion before anything is parsed."""

import json
import sys

import pytest

from videojobs.json_limits import MAX_JSON_DEPTH, JsonTooDeep, check_depth, loads, without_deep_values


def nested(depth: int, inner: str = "1") -> str:
    return "[" * depth + inner + "]" * depth


def test_nesting_up_to_the_limit_parses_and_one_level_more_is_refused_naming_the_limit() -> None:
    assert loads(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))
    with pytest.raises(JsonTooDeep, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        loads(nested(MAX_JSON_DEPTH + 1))


def test_a_hundred_thousand_nested_arrays_are_refused_without_recursion() -> None:
    body = '{"prompt": ' + nested(100_000) + "}"
    assert len(body) > 200_000
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100)  # the check must not recurse at all
    try:
        with pytest.raises(JsonTooDeep):
            check_depth(body)
    finally:
        sys.setrecursionlimit(limit)


def test_brackets_inside_strings_do_not_count() -> None:
    text = json.dumps({"prompt": "[" * 1000 + '\\"{' * 500, "tags": [["a"]]})

    check_depth(text, max_depth=3)
    with pytest.raises(JsonTooDeep):
        check_depth(text, max_depth=2)


def test_objects_and_arrays_count_alike() -> None:
    check_depth('{"a": {"b": [{"c": []}]}}', max_depth=5)
    with pytest.raises(JsonTooDeep):
        check_depth('{"a": {"b": [{"c": []}]}}', max_depth=4)


def test_text_that_is_not_json_is_left_to_the_parser() -> None:
    with pytest.raises(ValueError, match="Expecting") as error:
        loads('{"a": [1, 2')
    assert not isinstance(error.value, JsonTooDeep)
    with pytest.raises(ValueError, match="utf-8"):
        loads(b"\xff\xfe{}")


def test_the_shallow_part_of_a_document_too_deep_is_kept_and_the_deep_part_nulled() -> None:
    envelope = '{"id": "e-1", "detail": {"prompt": ' + nested(50_000) + '}, "source": "a[b"}'

    shallow = json.loads(without_deep_values(envelope, max_depth=1))

    assert shallow == {"id": "e-1", "detail": None, "source": "a[b"}
    assert json.loads(without_deep_values('{"a": [1, [2, [3]]]}', max_depth=2)) == {"a": [1, None]}
