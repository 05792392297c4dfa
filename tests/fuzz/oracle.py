"""What the fuzz suites check after each request: the status class, and the database.

`snapshot` counts the rows of every table of the schema in one query, so a test can say
"nothing was stored" for an unauthenticated (or rejected) request without naming tables.
`describe` renders a request and its answer for an assertion message: the minimal failing
example Hypothesis prints is then readable as it stands.
"""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.storage.tables import metadata
from support.hub import Hub

TABLES = tuple(table.name for table in metadata.sorted_tables)
# The names come from the schema's own metadata, never from input.
_COUNTS = (f"(SELECT count(*) FROM {t}) AS {t}" for t in TABLES)  # noqa: S608
_COUNT_ALL = "SELECT " + ", ".join(_COUNTS)


async def snapshot(engine: AsyncEngine) -> dict[str, int]:
    """Row count of every table."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(_COUNT_ALL))).one()
    return {table: int(count) for table, count in zip(TABLES, row, strict=True)}


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {t: (before[t], after[t]) for t in TABLES if before[t] != after[t]}


def describe(response: httpx.Response, body: bytes | None = None) -> str:
    request = response.request
    sent = body if body is not None else request.content
    shown = sent if len(sent) <= 300 else sent[:300] + b"...(%d bytes)" % len(sent)
    answer = response.text if len(response.text) <= 500 else response.text[:500] + "..."
    return f"{request.method} {request.url} body={shown!r} -> {response.status_code} {answer}"


def assert_not_server_error(response: httpx.Response, body: bytes | None = None) -> None:
    assert response.status_code < 500, "a 5xx answer (bad input must get a 4xx): " + describe(
        response, body
    )
    assert response.status_code >= 200, "an informational answer: " + describe(response, body)


class Target:
    """The hub under fuzz, with a one-line repr: Hypothesis prints every argument of a failing
    example, and would print a dataclass field by field (the whole container)."""

    def __init__(self, hub: Hub, backend: str) -> None:
        self.hub = hub
        self.backend = backend

    def __repr__(self) -> str:
        return f"<hub tenant={self.hub.tenant_id} on {self.backend}>"
