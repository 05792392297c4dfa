"""The SQLite engine's cursor: one hop to aiosqlite's thread per statement, same results;
statements marked to ride along go with the next hop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from easyflow.storage import create_engine
from easyflow.storage.engine import AUTOCOMMIT_OPTION
from easyflow.storage.sqlite_driver import RIDES_ALONG


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


def _riding(sql: str) -> Any:
    return text(sql).execution_options(**{RIDES_ALONG: True})


async def _names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(text("SELECT name FROM items"))).scalars())


async def test_a_rider_goes_with_the_next_statement_or_the_commit(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        hops = await _hops(connection)
        await connection.begin()
        await connection.execute(_riding("INSERT INTO items (name, n) VALUES ('a', 1)"))
        assert hops.count == 0
        count = await connection.execute(text("SELECT count(*) FROM items"))
        assert count.scalar_one() == 1  # BEGIN, the rider, then the statement: one hop
        assert hops.count == 1
        await connection.execute(_riding("INSERT INTO items (name, n) VALUES ('b', 2)"))
        await connection.execute(_riding("UPDATE items SET n = 5 WHERE name = 'a'"))
        await connection.commit()
        assert hops.count == 2  # both riders and the COMMIT
    assert sorted(await _names(engine)) == ["a", "b"]


async def test_a_transaction_of_riders_alone_is_one_hop(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        hops = await _hops(connection)
        await connection.begin()
        await connection.execute(_riding("INSERT INTO items (name, n) VALUES ('only', 1)"))
        await connection.commit()
        assert hops.count == 1  # BEGIN, the rider and the COMMIT
    assert await _names(engine) == ["only"]


async def test_riders_are_dropped_with_a_rollback(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.begin()
        await connection.execute(text("INSERT INTO items (name, n) VALUES ('sent', 1)"))
        await connection.execute(_riding("INSERT INTO items (name, n) VALUES ('queued', 2)"))
        await connection.rollback()
        await connection.begin()
        await connection.execute(_riding("INSERT INTO items (name, n) VALUES ('alone', 3)"))
        await connection.rollback()
        assert await _names(engine) == []
        # Nothing is left queued for the connection's next transaction either.
        await connection.begin()
        await connection.execute(text("INSERT INTO items (name, n) VALUES ('next', 4)"))
        await connection.commit()
    assert await _names(engine) == ["next"]


async def test_outside_a_transaction_a_rider_runs_at_once(engine: AsyncEngine) -> None:
    autocommit = await engine.connect()
    try:
        connection = await autocommit.execution_options(**{AUTOCOMMIT_OPTION: True})
        hops = await _hops(connection)
        await connection.execute(_riding("INSERT INTO items (name, n) VALUES ('now', 1)"))
        assert hops.count == 1
        assert await _names(engine) == ["now"]  # seen from another connection, uncommitted by us
    finally:
        await autocommit.close()


async def test_a_failing_rider_fails_the_whole_transaction(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO items (name, n) VALUES ('dup', 1)"))
    async with engine.connect() as connection:
        await connection.begin()
        await connection.execute(text("INSERT INTO items (name, n) VALUES ('kept?', 2)"))
        await connection.execute(_riding("INSERT INTO items (name, n) VALUES ('dup', 3)"))
        with pytest.raises(exc.IntegrityError, match="UNIQUE"):
            await connection.commit()
        await connection.rollback()
    assert await _names(engine) == ["dup"]
