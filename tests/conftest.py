"""Database fixtures shared by every suite: each test runs on SQLite and on PostgreSQL.

    database_url           an empty database (schema not created); parametrized sqlite/postgresql
    migrated_database_url  a database at the Alembic head with no rows in it
    encryption_key         the fixed Fernet key of the tests (TEST_ENCRYPTION_KEY)
    cipher                 a CredentialCipher with that key
    db_engine              an AsyncEngine on migrated_database_url, disposed after the test
    uow_factory            a SqlUnitOfWorkFactory over db_engine and cipher

SQLite gets a file in the test's tmp_path (the migrated one is a copy of a file migrated once
per session). PostgreSQL gets a fresh database per test for `database_url`, and one migrated
database per session, emptied before each test, for `migrated_database_url`. The server is
EASYFLOW_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres); if it is
unreachable the PostgreSQL tests fail, they are never skipped. Run SQLite only with
`-m "not postgresql"`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.observability.logging import add_secret_patterns
from easyflow.platforms.registry import PlatformRegistry
from easyflow.storage import CredentialCipher, SqlUnitOfWorkFactory, create_engine, upgrade

TEST_ENCRYPTION_KEY = "k9yEXZAlaJrbRQCeRVsnZYtiiBucCTijlwe23i1yq68="
POSTGRES_ENV = "EASYFLOW_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
]

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "postgresql: runs on PostgreSQL (deselect with -m 'not postgresql')"
    )
    config.addinivalue_line(
        "markers", "chaos: real processes under faults, tests/chaos (deselect with -m 'not chaos')"
    )
    # As the composition root does in every hub process: logs mask each platform's key shapes,
    # also in tests that build adapters without a container.
    add_secret_patterns(PlatformRegistry().secret_patterns())


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even if an event loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = asyncio.run(coroutine)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


# --------------------------------------------------------------------------- PostgreSQL admin


def _server_dsn() -> str:
    return os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL)


def _database_url(server_dsn: str, name: str) -> str:
    url = make_url(server_dsn).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


def _admin_dsn(server_dsn: str) -> str:
    return make_url(server_dsn).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(server_dsn: str, *statements: str) -> None:
    connection = await asyncpg.connect(_admin_dsn(server_dsn), timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _empty_tables(database_url: str) -> None:
    """DELETE every row, children first: far faster than TRUNCATE on small tables."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        # A transaction left open by the previous test would block us: fail, don't hang.
        await connection.execute("SET lock_timeout = '10s'")
        tables = await connection.fetch(
            "SELECT quote_ident(tablename) AS name FROM pg_tables "
            "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
        edges = await connection.fetch(
            "SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent "
            "FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        )
        order = TopologicalSorter({row["name"]: set() for row in tables})
        for edge in edges:
            if edge["child"] != edge["parent"]:
                order.add(edge["child"], edge["parent"])
        children_first = reversed(list(order.static_order()))
        # The names come from the catalog through quote_ident.
        statements = (f"DELETE FROM {name}" for name in children_first)  # noqa: S608
        await connection.execute("; ".join(statements))
    finally:
        await connection.close()


def _new_database_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server's admin URL, checked once; fails the test if it is down."""
    dsn = _server_dsn()
    try:
        run_blocking(_admin(dsn, "SELECT 1"))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(dsn)!r} ({exc!r}). Start it "
            f"(pg_ctlcluster --skip-systemctl-redirect 15 main start) or set {POSTGRES_ENV}; "
            "run SQLite only with -m 'not postgresql'.",
            pytrace=False,
        )
    return dsn


@pytest.fixture(scope="session")
def _postgres_migrated(postgres_server: str) -> Iterator[str]:
    name = _new_database_name("easyflow_test_session")
    run_blocking(_admin(postgres_server, f'CREATE DATABASE "{name}"'))
    url = _database_url(postgres_server, name)
    try:
        run_blocking(upgrade(url))
        yield url
    finally:
        run_blocking(_admin(postgres_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --------------------------------------------------------------------------- SQLite template


@pytest.fixture(scope="session")
def _sqlite_migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "easyflow.db"
    run_blocking(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


# --------------------------------------------------------------------------- public fixtures


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgresql": every test using a database runs once on each."""
    return str(request.param)


@pytest.fixture
def database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of its own (no schema): for tests of migrations themselves."""
    if db_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'easyflow.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    name = _new_database_name("easyflow_test")
    run_blocking(_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield _database_url(server, name)
    finally:
        run_blocking(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def migrated_database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A database at the Alembic head, with no rows in it."""
    if db_backend == "sqlite":
        path = tmp_path / "easyflow.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_migrated"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("_postgres_migrated")
    run_blocking(_empty_tables(url))
    return url


@pytest.fixture
def encryption_key() -> str:
    """The Fernet key behind `cipher`, for tests that build settings or rotate keys."""
    return TEST_ENCRYPTION_KEY


@pytest.fixture
def cipher(encryption_key: str) -> CredentialCipher:
    return CredentialCipher([encryption_key])


@pytest.fixture
async def db_engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def uow_factory(db_engine: AsyncEngine, cipher: CredentialCipher) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(db_engine, cipher)


# --------------------------------------------------------------------------- the whole hub


@pytest.fixture
async def hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Any]:
    """The real app with the in-process sandbox: a tenant with an API key, two orders and one
    connected Telegram bot (tests/support/hub.py), on SQLite and on PostgreSQL."""
    from support.hub import ORDERS, running_hub

    async with running_hub(migrated_database_url, tmp_path, encryption_key) as running:
        await running.container.tenants.upsert_orders(running.tenant_id, ORDERS)
        yield running
