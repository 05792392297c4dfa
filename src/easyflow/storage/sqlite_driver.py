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

A statement whose outcome nobody reads (an audit row, a usage row) can be marked with the
execution option `RIDES_ALONG`: inside a transaction it is not sent on its own but queued,
and rides to the driver's thread with the transaction's next statement or with its COMMIT,
run there first. An error in it surfaces at that statement or at the commit and fails the
transaction as a whole, which is all its caller could do with it anyway; so only statements
whose failure no caller handles on its own may ride. Outside a transaction (an autocommit
unit) it runs at once, as it would have: nothing would carry it.

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

# The execution option that lets a statement ride along (see above); `storage/engine.py`
# hands such statements to `OneHopCursor.ride_along`.
RIDES_ALONG = "easyflow_rides_along"

# A queued statement and its parameters.
_Rider = tuple[str, Any]

# description, rows (None without a result set), rowcount, lastrowid
_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _catch_up(connection: sqlite3.Connection, begin: bool, riders: list[_Rider]) -> None:
    """On the driver's thread: the held-back BEGIN if `begin`, then the queued statements."""
    if begin:
        connection.execute(BEGIN_IMMEDIATE).close()
    for operation, parameters in riders:
        connection.execute(operation, parameters or ()).close()


def _run(
    connection: sqlite3.Connection,
    operation: str,
    parameters: Any,
    many: bool,
    begin: bool,
    riders: list[_Rider],
) -> _Outcome:
    """On the driver's thread: what was held back (`_catch_up`), then the statement from
    cursor to closed cursor."""
    _catch_up(connection, begin, riders)
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


def _commit(connection: sqlite3.Connection, begin: bool, riders: list[_Rider]) -> None:
    _catch_up(connection, begin, riders)
    connection.commit()


async def _at_once() -> None:
    return None


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
            self._no_outcome()
            connection: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
            connection.begin_pending = True  # sent with the transaction's first statement
            return
        await self._one_hop(operation, parameters, many=False)

    def ride_along(self, operation: str, parameters: Any) -> bool:
        """Queue the statement for the transaction's next hop; False outside a transaction
        (then it is to run now)."""
        connection: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        if not connection.in_transaction:
            return False
        connection.riders.append((operation, parameters))
        self._no_outcome()
        # SQLAlchemy's async layer refuses an execute that awaited nothing (it takes that for
        # a sync driver); this await returns at once, without a turn of the event loop.
        await_(_at_once())
        return True

    def _no_outcome(self) -> None:
        self._rows.clear()
        self._description, self._rowcount, self._lastrowid = None, -1, None

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._one_hop(operation, seq_of_parameters, many=True)

    async def _one_hop(self, operation: Any, parameters: Any, *, many: bool) -> None:
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        connection: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        async with connection._execute_mutex:
            begin, riders = connection.take_held_back()
            outcome = await driver._execute(
                _run, driver._conn, operation, parameters, many, begin, riders
            )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows else collections.deque()

    def nextset(self) -> None:
        return None  # sqlite3 has one result set per statement

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None  # sqlite3 ignores it too


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("begin_pending", "riders")
    _cursor_cls = OneHopCursor  # type: ignore[assignment]  # mypy: a subclass, yet refused

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.begin_pending = False  # a BEGIN held back for the next statement's hop
        self.riders: list[_Rider] = []  # statements riding with the next hop

    @property
    def in_transaction(self) -> bool:
        # sqlite3's own flag, read while no call runs on the driver's thread (every call
        # here is awaited before the next is made); a closed connection is in none.
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        sqlite = driver._connection
        return self.begin_pending or (sqlite is not None and sqlite.in_transaction)

    def take_held_back(self) -> tuple[bool, list[_Rider]]:
        """The held-back BEGIN and the riders, for the hop about to be made."""
        begin, riders = self.begin_pending, self.riders
        self.begin_pending, self.riders = False, []
        return begin, riders

    def commit(self) -> None:
        begin, riders = self.take_held_back()
        if not riders:
            if not begin:  # with only a BEGIN held back nothing was begun, nothing to end
                super().commit()
            return
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        try:
            await_(driver._execute(_commit, driver._conn, begin, riders))
        except Exception as error:  # as the stock commit does: the DBAPI's own errors
            self._handle_exception(error)

    def rollback(self) -> None:
        """Drop what was held back; a ROLLBACK only when SQLite is in a transaction.

        The driver runs in autocommit (`isolation_level = None`), so after an autocommit
        unit, a commit, or a statement that failed outside a transaction, there is nothing to
        roll back; yet SQLAlchemy rolls back at the end of every unit and again when the pool
        takes the connection back, and each would be a hop to aiosqlite's thread and back.
        Intake's insert made five such hops for one statement; under load each hop waits a
        whole turn of a busy loop, holding the write lock meanwhile.
        """
        self.take_held_back()
        if self.in_transaction:
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
