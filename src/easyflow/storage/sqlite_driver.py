"""SQLAlchemy's aiosqlite adapter with one hop to the driver's thread per statement.

aiosqlite runs sqlite3 on a thread of its own and every call is a hop there and back: a put on
its queue, the thread woken, the answer posted to the event loop through its self-pipe, the
loop woken. SQLAlchemy's adapter makes four such hops per statement (open a cursor, execute,
fetch the rows, close the cursor) and three for one without rows. Each costs about 50 µs of
CPU (`SELECT 1` through the stock adapter: ~200 µs; in sqlite3 itself: ~1 µs), and a
processed message makes about fifteen statements: on the embedded default, where one process
does everything, that is CPU taken from every other request.

Here the cursor runs the whole statement in one call on the driver's thread: a sqlite3 cursor
opened, executed, drained and closed there, and its description, row count, last row id and
rows brought back together. SQLAlchemy reads rows from its own buffer anyway (the stock
adapter fetches them all before returning), so nothing changes above the cursor. Server-side
cursors, commit, rollback and connection set-up stay the stock adapter's.

A transaction's `BEGIN IMMEDIATE` makes no hop of its own either: it is held back and run on
the driver's thread just before the transaction's first statement, in that statement's hop
(nothing else runs on the connection in between, so the write lock is taken at the same
point of the work). A transaction that ends before any statement ran sends nothing at all.

It reaches `aiosqlite.Connection._execute` (queue a function for the driver's thread), as
SQLAlchemy's own adapter reaches its `_tx` queue; aiosqlite is pinned, and the storage tests
run every query through this cursor.
"""

from __future__ import annotations

import collections
import sqlite3
from threading import Thread
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# How the engine begins every transaction (storage/engine.py): held back, as above.
BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"

# description, rows (None without a result set), rowcount, lastrowid
_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _run(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool, begin: bool
) -> _Outcome:
    """On the driver's thread: the transaction's held-back BEGIN if `begin`, then the
    statement from cursor to closed cursor."""
    if begin:
        connection.execute(BEGIN_IMMEDIATE).close()
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement is one call on aiosqlite's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor (the stock adapter opens one here, a hop of its own): each
        # statement opens and closes a sqlite3 cursor on the driver's thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # DBAPI: None before an insert

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # the sqlite3 cursor was closed on the driver's thread

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        if operation == BEGIN_IMMEDIATE and not parameters:
            self._rows.clear()
            self._description, self._rowcount, self._lastrowid = None, -1, None
            connection: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
            connection.begin_pending = True  # sent with the transaction's first statement
            return
        await self._one_hop(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._one_hop(operation, seq_of_parameters, many=True)

    async def _one_hop(self, operation: Any, parameters: Any, *, many: bool) -> None:
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        connection: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        async with connection._execute_mutex:
            begin, connection.begin_pending = connection.begin_pending, False
            outcome = await driver._execute(_run, driver._conn, operation, parameters, many, begin)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows else collections.deque()

    def nextset(self) -> None:
        return None  # sqlite3 has one result set per statement

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None  # sqlite3 ignores it too


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("begin_pending",)
    _cursor_cls = OneHopCursor  # type: ignore[assignment]  # mypy: a subclass, yet refused

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.begin_pending = False  # a BEGIN held back for the next statement's hop

    def commit(self) -> None:
        if self.begin_pending:  # no statement since BEGIN: nothing was begun, nothing to end
            self.begin_pending = False
            return
        super().commit()

    def rollback(self) -> None:
        if self.begin_pending:
            self.begin_pending = False
            return
        super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module `create_async_engine(..., module=...)` takes in place of the stock one."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator_fn = kw.pop("async_creator_fn", None)
        connection = creator_fn(*arg, **kw) if creator_fn else aiosqlite.connect(*arg, **kw)
        if not creator_fn:
            # As SQLAlchemy's adapter does: the driver's thread must not keep the process up.
            thread: Thread = connection._thread
            thread.daemon = True
        return OneHopConnection(self, await_(connection))
