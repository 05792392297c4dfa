"""Engine creation: URL normalisation and the SQLite connection settings."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from easyflow.storage import create_engine, normalise_url
from easyflow.storage.types import UtcDateTime


@pytest.mark.parametrize(
    ("given", "driver", "database"),
    [
        ("postgresql://u:p@db:5432/easyflow", "postgresql+asyncpg", "easyflow"),
        ("postgres://u@db/easyflow", "postgresql+asyncpg", "easyflow"),
        ("postgresql+psycopg2://u@db/easyflow", "postgresql+asyncpg", "easyflow"),
        ("postgresql+asyncpg://u@db/easyflow", "postgresql+asyncpg", "easyflow"),
        ("sqlite:///data/easyflow.db", "sqlite+aiosqlite", "data/easyflow.db"),
        ("sqlite+aiosqlite:////var/easyflow.db", "sqlite+aiosqlite", "/var/easyflow.db"),
    ],
)
def test_urls_get_their_async_driver(given: str, driver: str, database: str) -> None:
    url = normalise_url(given)

    assert (url.drivername, url.database) == (driver, database)


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql"):
        normalise_url("mysql://u@db/easyflow")


async def test_postgresql_engine_uses_asyncpg_and_keeps_the_password() -> None:
    engine = create_engine("postgresql://easyflow:pw@127.0.0.1:5432/easyflow")
    try:
        assert engine.url.drivername == "postgresql+asyncpg"
        assert engine.url.password == "pw"
        assert "pw" not in repr(engine.url)
    finally:
        await engine.dispose()


async def test_sqlite_file_gets_its_folder_wal_foreign_keys_and_busy_timeout(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "er" / "easyflow.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as connection:
            pragmas = {
                name: (await connection.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        await engine.dispose()

    assert path.exists()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}


def test_naive_datetimes_are_refused() -> None:
    column_type = UtcDateTime()
    dialect = normalise_url("sqlite://").get_dialect()()

    with pytest.raises(ValueError, match="naive"):
        column_type.process_bind_param(datetime(2026, 1, 1), dialect)
