"""The SQLite engine's cursor: one hop to aiosqlite's thread per statement, same results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from easyflow.storage import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'hops.db'}")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)")
        )
    yield engine
    await engine.dispose()


class _Hops:
    """Counts the calls queued to the driver's thread: it stands in for the side of aiosqlite's
    queue the event loop puts on (the thread keeps reading the queue it was started with)."""

    def __init__(self, driver: Any) -> None:
        self.count = 0
        self._queue = driver._tx
        driver._tx = self

    def put_nowait(self, item: Any) -> None:
        self.count += 1
        self._queue.put_nowait(item)


async def _hops(connection: AsyncConnection) -> _Hops:
    raw = await connection.get_raw_connection()
    return _Hops(raw.driver_connection)


async def test_each_statement_is_one_hop_with_or_without_rows(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        hops = await _hops(connection)
        await connection.begin()
        assert hops.count == 0  # BEGIN IMMEDIATE (storage/engine.py) waits for a statement
        inserted = await connection.execute(
            text("INSERT INTO items (name, n) VALUES ('a', 1) RETURNING id, name")
        )
        assert inserted.all() == [(1, "a")]
        assert hops.count == 1  # the BEGIN and the INSERT
        updated = await connection.execute(text("UPDATE items SET n = n + 1 WHERE name = 'a'"))
        assert updated.rowcount == 1
        assert hops.count == 2
        assert (await connection.execute(text("SELECT n FROM items"))).scalar_one() == 2
        assert hops.count == 3
        await connection.commit()
        assert hops.count == 4


async def test_the_held_back_begin_makes_a_transaction_of_what_follows(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        sqlite = raw.driver_connection._conn  # type: ignore[union-attr]
        await connection.begin()
        assert not sqlite.in_transaction
        await connection.execute(text("INSERT INTO items (name, n) VALUES ('gone', 1)"))
        assert sqlite.in_transaction  # begun on the driver's thread, before the INSERT
        await connection.rollback()
    async with engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM items"))).scalars().all()
    assert names == []  # rolled back: the INSERT was inside the transaction


async def test_a_transaction_with_no_statement_sends_nothing(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        hops = await _hops(connection)
        await connection.begin()
        await connection.commit()
        await connection.begin()
        await connection.rollback()
        assert hops.count == 0
        assert (await connection.execute(text("SELECT count(*) FROM items"))).scalar_one() == 0
        assert hops.count == 1  # the next statement: one hop, its own BEGIN riding along


async def test_rows_lastrowid_and_executemany_are_as_sqlite3_gives_them(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        plain = await connection.execute(text("INSERT INTO items (name, n) VALUES ('x', 7)"))
        assert plain.lastrowid == 1
        many = await connection.execute(
            text("INSERT INTO items (name, n) VALUES (:name, :n)"),
            [{"name": f"item-{i}", "n": i} for i in range(50)],
        )
        assert many.rowcount == 50
        result = await connection.execute(text("SELECT name, n FROM items ORDER BY id"))
        assert list(result.keys()) == ["name", "n"]
        rows = result.all()
    assert len(rows) == 51
    assert rows[0] == ("x", 7)
    assert rows[-1] == ("item-49", 49)


async def test_a_failing_statement_raises_the_usual_error_and_the_connection_goes_on(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO items (name, n) VALUES ('dup', 1)"))
        await connection.commit()
        with pytest.raises(exc.IntegrityError, match="UNIQUE"):
            await connection.execute(text("INSERT INTO items (name, n) VALUES ('dup', 2)"))
        await connection.rollback()
        with pytest.raises(exc.OperationalError, match="no such table"):
            await connection.execute(text("SELECT * FROM missing"))
        await connection.rollback()
        count = await connection.execute(text("SELECT count(*) FROM items"))
        assert count.scalar_one() == 1


async def test_streamed_results_still_work(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO items (name, n) VALUES (:name, :n)"),
            [{"name": f"s-{i}", "n": i} for i in range(10)],
        )
    async with engine.connect() as connection:
        result = await connection.stream(text("SELECT n FROM items ORDER BY n"))
        seen = [n async for (n,) in result]
    assert seen == list(range(10))
