"""`create_engine(url)`: the async engine for the embedded SQLite file or for PostgreSQL.

SQLite is tuned for a hub that writes from many coroutines: WAL (readers never block the
writer), foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every transaction. The
last one matters: a deferred transaction that reads and then writes fails at once with
"database is locked" when another writer got in between (no busy wait helps), whereas an
immediate one waits its turn at the start.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.engine.interfaces import ExecutionContext
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from easyflow import jsonio
from easyflow.storage.sqlite_driver import BEGIN_IMMEDIATE, RIDES_ALONG, OneHopCursor, OneHopDBAPI
from easyflow.storage.types import json_without_nul

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"
_DRIVERS = {
    "sqlite": SQLITE_DRIVER,
    "sqlite+pysqlite": SQLITE_DRIVER,
    "sqlite+aiosqlite": SQLITE_DRIVER,
    "postgres": POSTGRES_DRIVER,
    "postgresql": POSTGRES_DRIVER,
    "postgresql+psycopg": POSTGRES_DRIVER,
    "postgresql+psycopg2": POSTGRES_DRIVER,
    "postgresql+asyncpg": POSTGRES_DRIVER,
}
# Execution option of a connection whose statements each commit alone (storage/uow.py).
AUTOCOMMIT_OPTION = "easyflow_autocommit"
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA synchronous=NORMAL",  # durable in WAL mode except on power loss; much faster
)


def _json_column(value: Any) -> str:
    return json_without_nul(jsonio.dumps(value))


# Both databases: bound parameters kept out of logs and error messages (they hold customers'
# messages and phone numbers), and JSON columns encoded by the hub's fast encoder, a NUL in a
# text made U+FFFD (types.py says why); read back by the standard library: exact, and about
# as fast on rows this small.
_COMMON: dict[str, Any] = {"hide_parameters": True, "json_serializer": _json_column}


def normalise_url(database_url: str | URL) -> URL:
    """The URL with its async driver: `postgresql://` → asyncpg, `sqlite://` → aiosqlite."""
    url = make_url(database_url)
    driver = _DRIVERS.get(url.drivername)
    if driver is None:
        raise ValueError(f"unsupported database URL scheme {url.drivername!r}")
    return url.set(drivername=driver)


def create_engine(
    database_url: str | URL,
    *,
    echo: bool = False,
    pool_size: int = 10,
    max_overflow: int = 20,
) -> AsyncEngine:
    """An engine for `database_url`; nothing connects until the first use.

    Bound parameters are kept out of logs and error messages: they hold customers' messages
    and phone numbers.
    """
    url = normalise_url(database_url)
    if url.drivername == SQLITE_DRIVER:
        return _sqlite_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
    return create_async_engine(
        url,
        echo=echo,
        **_COMMON,
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No pre-ping: it costs a SELECT 1 per checkout, and a dropped connection surfaces as
        # TransientStorageError, which is retried (jobs) or answered 503 (webhooks).
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"server_settings": {"application_name": "easyflow"}},
    )


def is_memory_database(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or ":memory:" in database


def _sqlite_engine(url: URL, *, echo: bool, **pool: int) -> AsyncEngine:
    if is_memory_database(url):
        pool = {}  # one static connection: there is no pool to size
    else:
        _private_database_file(Path(url.database or "").expanduser())
    # The stock aiosqlite adapter with a cursor that makes one hop to the driver's thread per
    # statement instead of three or four (storage/sqlite_driver.py).
    engine = create_async_engine(url, echo=echo, module=OneHopDBAPI(), **_COMMON, **pool)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    event.listen(engine.sync_engine, "do_execute", _let_riders_ride)
    return engine


def _private_database_file(path: Path) -> None:
    """The file (and a directory made for it) readable by this user only: it holds customers'
    messages and phone numbers. SQLite gives its -wal and -shm files the database file's mode,
    so the file is created here, 0600, before SQLite makes it 0644; an existing one is
    tightened, with any -wal/-shm beside it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is deferred; SQLAlchemy emits ours (see module doc).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _let_riders_ride(
    cursor: OneHopCursor, statement: str, parameters: Any, context: ExecutionContext
) -> bool:
    """A statement marked `RIDES_ALONG` is queued for the transaction's next hop (True: the
    dialect sends nothing now); outside a transaction it runs as any other."""
    return bool(context.execution_options.get(RIDES_ALONG)) and cursor.ride_along(
        statement, parameters
    )


def _on_sqlite_begin(connection: Connection) -> None:
    if not connection.get_execution_options().get(AUTOCOMMIT_OPTION):
        connection.exec_driver_sql(BEGIN_IMMEDIATE)  # held back for the first statement
