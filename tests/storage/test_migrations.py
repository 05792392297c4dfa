"""The Alembic migrations build exactly the schema `tables.metadata` describes."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from easyflow.storage import create_engine, downgrade, upgrade, upgrade_sync
from easyflow.storage.tables import metadata


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def _inspect(database_url: str, probe: Any) -> Any:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(probe)
    finally:
        await engine.dispose()


async def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    await upgrade(database_url)

    assert await _inspect(database_url, _differences) == []
    assert await _inspect(database_url, _tables) == set(metadata.tables)


async def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    await upgrade(database_url)
    await downgrade(database_url, "base")
    assert await _inspect(database_url, _tables) == set()

    await upgrade(database_url)
    assert await _inspect(database_url, _differences) == []


async def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    await upgrade(database_url)
    await upgrade(database_url)

    assert await _inspect(database_url, _differences) == []


def test_sync_upgrade_for_callers_without_a_loop(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'easyflow.db'}"

    upgrade_sync(url)

    assert (tmp_path / "nested" / "dir" / "easyflow.db").exists()
