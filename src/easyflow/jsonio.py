"""JSON in and out of the database: orjson where it agrees with the standard library.

Every stored event, message and outbox row is encoded and decoded by the database layer
(the engine's `json_serializer` and `json_deserializer`). Encoding a webhook update takes
orjson 0.6 µs against the standard library's 4 µs, twice per delivery at intake, and
decoding one 2.4 µs (2 of them the scan below) against 5 µs. orjson differs in two ways
that matter here:

- an integer beyond 64 bits: `loads` turns it into a float, silently; `dumps` refuses it.
  Text with a run of 19 or more digits (which may be such an integer) is parsed by the
  standard library, and a value orjson refuses to encode is encoded by it;
- dict keys that are not strings: `dumps` refuses them, and the standard library encodes
  them as strings, as before.

It also writes non-ASCII characters as UTF-8 instead of `\\uXXXX` escapes: the same JSON.
Webhook bodies are decoded by `standard_loads` (`webhooks.payloads` adds its own rules):
there the scan and the checks that follow cost about what orjson would save.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"[0-9]{19}")
_LONG_DIGITS_BYTES = re.compile(rb"[0-9]{19}")

JSONDecodeError = orjson.JSONDecodeError  # a ValueError, as json's own


def loads(text: str | bytes) -> Any:
    """The document in `text`; ValueError if it is not JSON (NaN, Infinity and numbers that
    overflow a float are not), RecursionError if it nests deeper than ~1,000 levels."""
    if isinstance(text, bytes):
        if _LONG_DIGITS_BYTES.search(text):
            return standard_loads(text.decode())
    elif _LONG_DIGITS.search(text):
        return standard_loads(text)
    return orjson.loads(text)


def standard_loads(text: str) -> Any:
    """`loads` by the standard library alone: slower, and its errors name the fault."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)


def dumps(value: Any) -> str:
    """`value` as compact JSON text."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, a key that is not a string
        return json.dumps(value, separators=(",", ":"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {literal[:40]}")
    return value
