"""The keys that encrypt stored secrets: a start-up check that refuses keys which cannot read
what is stored, re-encryption that reports unreadable rows and carries on, and the embedded
database's files kept private to their user."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.bootstrap import build_container
from easyflow.config import Settings
from easyflow.storage import CredentialCipher, SqlUnitOfWorkFactory, create_engine, generate_key
from easyflow.storage.crypto import SecretKeyMismatch
from easyflow.storage.tables import integrations

from .helpers import BOT_TOKEN, Tenancy


def settings(database_url: str, tmp_path: Path, *keys: str) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        secret_keys=",".join(keys),
        broker_url="memory://",
    )


async def start(config: Settings) -> None:
    container = build_container(config)
    try:
        await container.start()
    finally:
        await container.aclose()


async def test_start_refuses_keys_that_cannot_read_the_stored_secrets(
    migrated_database_url: str, tmp_path: Path, encryption_key: str, tenancy: Tenancy
) -> None:
    wrong = generate_key()
    with pytest.raises(SecretKeyMismatch) as caught:
        await start(settings(migrated_database_url, tmp_path, wrong))
    message = str(caught.value)
    assert "cannot decrypt the stored secrets of 2 of 2 integrations" in message
    assert "EASYFLOW_SECRET_KEYS" in message and "easyflow keys reencrypt" in message
    assert wrong not in message and encryption_key not in message

    # The right key, alone or behind a new one being rotated in, starts.
    await start(settings(migrated_database_url, tmp_path, encryption_key))
    await start(settings(migrated_database_url, tmp_path, generate_key(), encryption_key))


async def test_one_row_written_with_another_key_is_enough_to_refuse(
    migrated_database_url: str,
    tmp_path: Path,
    encryption_key: str,
    tenancy: Tenancy,
    db_engine: AsyncEngine,
) -> None:
    foreign = CredentialCipher([generate_key()]).encrypt_json({"token": "b-token"})
    async with db_engine.begin() as conn:
        statement = update(integrations).where(integrations.c.id == tenancy.integration_b)
        await conn.execute(statement.values(credentials_encrypted=foreign))
    with pytest.raises(SecretKeyMismatch, match="of 1 of 2 integrations"):
        await start(settings(migrated_database_url, tmp_path, encryption_key))


async def test_reencrypt_reports_unreadable_rows_and_rewrites_the_rest(
    db_engine: AsyncEngine, encryption_key: str, tenancy: Tenancy
) -> None:
    foreign = CredentialCipher([generate_key()]).encrypt("secret-b")
    async with db_engine.begin() as conn:
        statement = update(integrations).where(integrations.c.id == tenancy.integration_b)
        await conn.execute(statement.values(webhook_secret_encrypted=foreign))
    new_key = generate_key()
    rotating = SqlUnitOfWorkFactory(db_engine, CredentialCipher([new_key, encryption_key]))

    async with rotating() as uow:
        report = await uow.reencrypt_secrets()
        await uow.commit()

    assert report.rewritten == 1
    assert [(r.integration_id, r.tenant_id, r.platform) for r in report.unreadable] == [
        (tenancy.integration_b, tenancy.tenant_b, "telegram")
    ]
    async with SqlUnitOfWorkFactory(db_engine, CredentialCipher([new_key]))() as uow:
        readable = await uow.integrations.get(tenancy.tenant_a, tenancy.integration_a)
        unreadable, total = await uow.unreadable_secrets()
    assert readable.credentials == {"token": BOT_TOKEN}
    assert ([r.integration_id for r in unreadable], total) == ([tenancy.integration_b], 2)
    async with db_engine.connect() as conn:
        query = text("SELECT webhook_secret_encrypted FROM integrations WHERE id = :id")
        kept = (await conn.execute(query, {"id": tenancy.integration_b})).scalar_one()
    assert kept == foreign  # left as it was, for the key that can still read it


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("_umask_022")
async def test_the_sqlite_files_and_their_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "easyflow.db"
    engine = create_engine(f"sqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as conn:  # WAL: the -wal and -shm files exist while open
            await conn.execute(text("SELECT x FROM t"))
            files = [path, path.with_name("easyflow.db-wal"), path.with_name("easyflow.db-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await engine.dispose()
    assert _mode(path.parent) == 0o700


@pytest.mark.usefixtures("_umask_022")
async def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "easyflow.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    engine = create_engine(f"sqlite:///{path}")
    await engine.dispose()
    assert _mode(path) == 0o600


@pytest.mark.usefixtures("_umask_022")
def test_the_generated_secret_key_file_is_private(tmp_path: Path) -> None:
    config = Settings(data_dir=tmp_path / "data", database_url="", secret_keys="")
    [key] = config.fernet_keys()
    assert _mode(tmp_path / "data" / "secret.key") == 0o600
    assert _mode(tmp_path / "data") == 0o700
    assert config.fernet_keys() == [key]


@pytest.fixture
def _umask_022() -> object:
    """The usual umask, under which files are created world-readable unless asked not to."""
    import os

    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)
