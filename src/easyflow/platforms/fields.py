"""Typed access to a decoded webhook document, shared by the messenger parsers.

A parser that finds a field it needs missing or of the wrong type raises `Invalid` with the
path; the platform module turns it into MalformedPayloadError (the envelope is wrong: 400) or
UnprocessableEventError (the event has an id: stored failed and acknowledged).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
MAX_FIELD = 255  # ids and names are stored in String(255) columns
MAX_INT = 2**63 - 1


class Invalid(Exception):
    """A field the hub needs is missing or of the wrong type (the message says which)."""


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"{where} is not an object")
    return value


def items(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{where} is not an array")
    return value


def required(container: dict[str, Any], name: str, where: str) -> Any:
    if name not in container:
        raise Invalid(f"missing a field: {where}.{name}")
    return container[name]


def ident(value: Any, where: str) -> str:
    """An id the platform sends as a string or an integer, as text."""
    if is_int(value) and -MAX_INT <= value <= MAX_INT:
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= MAX_FIELD:
        return value
    raise Invalid(f"{where} is not an id")


def text(value: Any, limit: int | None = None) -> str | None:
    """A display string, or None when absent or not a string (not fatal)."""
    if not isinstance(value, str):
        return None
    return value if limit is None else value[:limit]


def unix_time(value: Any, where: str, *, millis: bool = False) -> datetime:
    """Unix seconds (or milliseconds) given as an integer or a string of digits."""
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        value = int(value)
    if not is_int(value):
        raise Invalid(f"{where} is not a unix time")
    seconds = value / 1000 if millis else value
    if not 0 <= seconds <= MAX_SECONDS:
        raise Invalid(f"{where} is out of range")
    return datetime.fromtimestamp(seconds, UTC)


def split_text(value: str, limit: int) -> list[str]:
    """Chunks of at most `limit` characters, cut at a line or word boundary when one is near."""
    chunks: list[str] = []
    rest = value
    while len(rest) > limit:
        cut = limit
        for sep in ("\n\n", "\n", " "):
            at = rest.rfind(sep, 0, limit)
            if at > limit // 2:
                cut = at + len(sep)
                break
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip() or not chunks:
        chunks.append(rest)
    return chunks
