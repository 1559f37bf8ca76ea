"""The strict JSON loader refuses nesting past its limit, counted on containers only."""

from __future__ import annotations

import pytest

from opsroom.web.intake import MAX_DEPTH, BadBody, loads


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused() -> None:
    assert loads(nested(MAX_DEPTH)) is not None
    with pytest.raises(BadBody, match="nested more than"):
        loads(nested(MAX_DEPTH + 1))
    deep_in_an_object = '{"a": ' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    assert loads(deep_in_an_object) is not None
    with pytest.raises(BadBody, match="nested more than"):
        loads('{"x": [' + deep_in_an_object + "]}")


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"summary": "' + "[{" * 500 + '"}'
    assert loads(text) == {"summary": "[{" * 500}


@pytest.mark.parametrize("depth", [2000, 100_000])
def test_nesting_past_what_the_parser_allows_is_refused_not_a_crash(depth: int) -> None:
    with pytest.raises(BadBody, match="nested more than"):
        loads(nested(depth))


def test_a_custom_limit() -> None:
    assert loads('{"a": {"b": 1}}', max_depth=2) == {"a": {"b": 1}}
    with pytest.raises(BadBody):
        loads('{"a": {"b": []}}', max_depth=2)
