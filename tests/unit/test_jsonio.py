"""The hub's JSON codec: orjson's speed without its differences from the standard library."""

from __future__ import annotations

import json

import pytest

from easyflow import jsonio

HUGE = 123456789012345678901234567890  # beyond 64 bits: orjson alone would make it a float


@pytest.mark.parametrize(
    "document",
    [
        {"update_id": 1, "text": "Привет 😀", "nested": [1.5, None, True, {"a": []}]},
        {"id": HUGE, "neg": -(2**63) - 1, "max": 2**64 - 1},
        [HUGE, "1234567890123456789012"],
    ],
)
def test_a_document_survives_the_round_trip_exactly(document: object) -> None:
    text = jsonio.dumps(document)
    assert jsonio.loads(text) == document
    assert jsonio.loads(text.encode()) == document
    assert json.loads(text) == document  # the standard library reads what it writes


def test_keys_that_are_not_strings_are_written_as_the_standard_library_does() -> None:
    assert json.loads(jsonio.dumps({1: "a", 2: [HUGE]})) == {"1": "a", "2": [HUGE]}


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", "-Infinity", "1e400", '{"id": 12345678901234567890, "x": 1e999}']
)
def test_numbers_no_database_stores_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(text)
    with pytest.raises(ValueError):
        jsonio.loads(text.encode())
