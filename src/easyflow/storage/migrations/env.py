"""Alembic environment for Easy Flow, async, on SQLite or PostgreSQL.

`storage.migrate` hands over an open connection in `config.attributes["connection"]`; the
`alembic` command (development: new revisions) instead builds an engine from the
`sqlalchemy.url` option set in code. SQLite alters tables by copying them (batch mode).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from easyflow.storage.engine import create_engine
from easyflow.storage.tables import metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode():
        run_offline()
    elif connection is not None:
        run_on(connection)
    else:
        asyncio.run(run_online())


main()
