"""Sync as the domain sees it: streams an adapter declares, pages it returns, runs recorded.

A stream is read inside a window fixed when its run starts (`since` … `until`); pages carry
an opaque, JSON-able page cursor that the engine commits with the page's records, so a run
resumed after a crash asks for exactly the page after the last one committed.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


class CursorKind(enum.StrEnum):
    # Records changed since a point in time: incremental runs read from the last watermark
    # minus the look-back window.
    TIMESTAMP = "timestamp"
    # A keyset walk over the whole collection (card lists, product lists): every run reads
    # it all, and a complete read tells which records the platform no longer has.
    KEYSET = "keyset"


class SyncType(enum.StrEnum):
    INCREMENTAL = "incremental"
    FULL = "full"
    BACKFILL = "backfill"


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class SyncStream:
    """A stream as its adapter declares it."""

    name: str  # "orders", "products", "stocks"
    cursor: CursorKind
    record: str  # "order", "product" or "stock": which repository the engine writes to
    lookback: timedelta = timedelta(0)
    every: timedelta = timedelta(minutes=15)  # default schedule
    max_window: timedelta = timedelta(days=30)  # how far back a first or full run reads
    # The page cursor that reads the window from its newest end, when the platform sorts
    # both ways (Ozon postings: `sort_dir` DESC). The engine then reads a run from both ends
    # at once, two requests in flight, and stops where the two meet (services/sync.py).
    from_newest: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SyncWindow:
    """What one run reads: changes in [since, until]; since None reads everything kept."""

    since: datetime | None
    until: datetime


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """A record the adapter could not map: kept with the run, the run goes on."""

    external_id: str
    reason: str


class Parts:
    """The parts of a page read as it arrives (`Page.parts`): an async iterator of Pages that
    its reader closes (`contextlib.aclosing`). Closing it closes what it reads from (the
    page's connection) even when not one part was read."""

    def __init__(
        self, parts: AsyncGenerator[Page, None], close: Callable[[], Awaitable[None]]
    ) -> None:
        self._parts = parts
        self._close = close

    def __aiter__(self) -> Parts:
        return self

    async def __anext__(self) -> Page:
        return await anext(self._parts)

    async def aclose(self) -> None:
        try:
            await self._parts.aclose()
        finally:
            await self._close()


@dataclass(frozen=True, slots=True)
class Page:
    records: tuple[Any, ...]
    next: dict[str, Any] | None  # page cursor of the following page; None: the stream is done
    failures: tuple[RecordFailure, ...] = ()
    high_water: datetime | None = None  # newest change seen in this page
    # A page too large to hold mapped at once (a Wildberries statistics page: up to 80 000
    # rows) comes in parts instead: `records` is empty and `parts` yields Pages of a few
    # thousand records each, read and parsed as the engine consumes them (the engine closes
    # it). Only the last part's `next` and `high_water` count (the page's cursor is known once
    # all of it is read); the engine commits the earlier parts without moving the checkpoint.
    parts: Parts | None = None


@dataclass(frozen=True, slots=True)
class SyncRun:
    id: int
    tenant_id: int
    integration_id: int
    stream: str
    sync_type: SyncType
    status: RunStatus
    since: datetime | None
    until: datetime
    page_cursor: dict[str, Any] | None
    pages: int
    records: int
    errors: int
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    high_water: datetime | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class StreamState:
    """Where a stream stands between runs."""

    integration_id: int
    stream: str
    watermark: datetime | None  # every change up to here is committed
    last_run: SyncRun | None = None
    extra: dict[str, Any] = field(default_factory=dict)
