"""Column types that behave the same on SQLite and PostgreSQL: ids, UTC timestamps, JSON,
and text from outside the hub.

PostgreSQL's text cannot hold a NUL character (a statement binding one fails whole), while
SQLite stores it; SQLite's JSON functions cut a string short at one. A NUL from a platform
(a product name, an error a messenger's API answered, a model's reply) would fail the write
it rides in, and every retry of it: a sync page written again on every run, a reply never
recorded. So the hub stores U+FFFD in its place, the same on both databases: in the columns
typed `ExternalText` / `ExternalString` and in every JSON column (`json_without_nul`, applied by
the engine's JSON serializer). Messenger webhooks are cleaned by their parsers already.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite auto-increments only a column declared exactly INTEGER PRIMARY KEY (its INTEGER is
# 64-bit anyway); PostgreSQL gets BIGINT so high-volume tables never run out of ids.
Id = BigInteger().with_variant(Integer(), "sqlite")

Json = JSON().with_variant(JSONB(), "postgresql")


REPLACEMENT_CHARACTER = "\ufffd"

# A NUL character written as a JSON escape, not preceded by an escaped backslash (`\\u0000`
# is the text "\u0000", not a NUL).
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def json_without_nul(document: str) -> str:
    """The JSON text `document` with every NUL in its strings (and keys) made U+FFFD."""
    if "\\u0000" not in document:  # the usual case: one scan in C
        return document
    return _NUL_ESCAPE.sub(lambda m: m.group(1) + "\\ufffd", document)


class ExternalText(TypeDecorator[str]):
    """TEXT that may come from outside the hub: a NUL in a bound value is stored as U+FFFD
    (the module docstring says why). Comparisons bind through it too, so a lookup by such a
    value finds what was stored."""

    impl: type[String] = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or "\x00" not in value:
            return value
        return value.replace("\x00", REPLACEMENT_CHARACTER)


class ExternalString(ExternalText):
    """VARCHAR(n) that may come from outside the hub: as `ExternalText`."""

    impl = String
    cache_ok = True  # read from each class's own attributes: not inherited


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out.

    SQLite keeps no offset, so values are stored as naive UTC there; naive input is refused
    because its meaning depends on the machine it was made on.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
