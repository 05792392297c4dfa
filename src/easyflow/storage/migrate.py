"""Schema migrations in code: `await upgrade(database_url)` brings a database to the head.

The Alembic `Config` is built here, pointing at the package's own `migrations` folder, so an
installed Easy Flow migrates without an alembic.ini. Migrations run in one transaction on
an engine from `create_engine`, with its SQLite settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from easyflow.storage.engine import create_engine

MIGRATIONS = Path(__file__).resolve().with_name("migrations")

Step = Callable[[Config, str], None]


def alembic_config(database_url: str) -> Config:
    """An Alembic config for this database, also usable with `alembic.command` directly."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%' (as in an escaped password): double it.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database forward to `revision`."""
    await _run(database_url, command.upgrade, revision)


async def downgrade(database_url: str, revision: str) -> None:
    """Migrate the database back to `revision` ("base" drops everything)."""
    await _run(database_url, command.downgrade, revision)


def upgrade_sync(database_url: str, revision: str = "head") -> None:
    """`upgrade` for callers without an event loop (the CLI, scripts)."""
    asyncio.run(upgrade(database_url, revision))


async def _run(database_url: str, step: Step, revision: str) -> None:
    config = alembic_config(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_on_connection, config, step, revision)
    finally:
        await engine.dispose()


def _on_connection(connection: Connection, config: Config, step: Step, revision: str) -> None:
    config.attributes["connection"] = connection
    step(config, revision)
