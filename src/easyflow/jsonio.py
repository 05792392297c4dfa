"""JSON on the hub's hot paths: orjson where it agrees with the standard library.

- `dumps` encodes every JSON column (the engine's `json_serializer`): orjson takes 0.6 µs
  for a webhook update against the standard library's 4 µs, twice per delivery at intake.
  What orjson refuses, an integer beyond 64 bits or a key that is not a string, the standard
  library encodes as before, so nothing is rounded or refused that was not before. orjson
  writes non-ASCII characters as UTF-8 instead of `\\uXXXX` escapes: the same JSON.
- `loads_response` parses a platform's answers (`http.RawResponse.json`; an Ozon page of 100
  postings: 0.1 ms against 0.3 ms, 1,000 pages a sync). orjson turns an integer beyond 64
  bits into a float, silently, and telling such text apart costs more than the standard
  parse (a scan for long digit runs: 0.4 ms a page), so it is for documents whose schema
  holds no such integer: the platforms' ids are below 2^63 or strings.
- `standard_loads` is the exact, strict parse for everything else: webhook bodies (untrusted)
  and the database's JSON columns.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """`value` as compact JSON text."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, a key that is not a string
        return json.dumps(value, separators=(",", ":"))


def loads_response(data: bytes) -> Any:
    """A platform's answer (see the module docstring); ValueError if it is not JSON. What orjson
    refuses (NaN, numbers that overflow a float) is parsed again by the standard library,
    whose verdict stands."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def standard_loads(text: str) -> Any:
    """The document in `text` by the standard library, exact; ValueError if it is not JSON,
    NaN, Infinity and numbers that overflow a float included."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {literal[:40]}")
    return value
