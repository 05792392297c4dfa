"""The hub's JSON helpers: orjson's speed where it agrees with the standard library."""

from __future__ import annotations

import json

import pytest

from easyflow import jsonio

HUGE = 123456789012345678901234567890  # beyond 64 bits: orjson alone refuses it


@pytest.mark.parametrize(
    "document",
    [
        {"update_id": 1, "text": "Привет 😀", "nested": [1.5, None, True, {"a": []}]},
        {"id": HUGE, "neg": -(2**63) - 1, "max": 2**64 - 1},
        [HUGE, "1234567890123456789012"],
    ],
)
def test_what_is_encoded_is_read_back_exactly(document: object) -> None:
    text = jsonio.dumps(document)
    assert json.loads(text) == document
    assert jsonio.standard_loads(text) == document


def test_keys_that_are_not_strings_are_written_as_the_standard_library_does() -> None:
    assert json.loads(jsonio.dumps({1: "a", 2: [HUGE]})) == {"1": "a", "2": [HUGE]}


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", "-Infinity", "1e400", '{"x": 1e999}'])
def test_numbers_no_database_stores_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        jsonio.standard_loads(text)


def test_a_platform_answer_orjson_refuses_is_judged_by_the_standard_library() -> None:
    assert jsonio.loads_response(b'{"ok": true, "result": [1, 2]}') == {
        "ok": True,
        "result": [1, 2],
    }
    assert jsonio.loads_response(b'{"value": NaN}')["value"] != 0  # json takes NaN: not refused
    with pytest.raises(ValueError):
        jsonio.loads_response(b"<html>502 Bad Gateway</html>")
