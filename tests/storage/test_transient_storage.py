"""Database failures classified at the unit of work's boundary; retry and in-doubt states."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from easyflow.domain.errors import TransientStorageError
from easyflow.domain.messaging import EventStatus, OutboxKind, OutboxPayload
from easyflow.storage import SqlUnitOfWorkFactory
from easyflow.storage.types import utcnow

from .helpers import Tenancy, inbound_message

RAW: dict = {}


async def test_sqlite_locked_is_transient_and_a_constraint_is_not(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    locked = sa_exc.OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    bug = sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    with pytest.raises(TransientStorageError) as caught:
        async with uow_factory():
            raise locked
    assert caught.value.__cause__ is locked
    with pytest.raises(sa_exc.IntegrityError):
        async with uow_factory():
            raise bug


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def test_a_terminated_backend_leaves_the_block_as_transient(
    uow_factory: SqlUnitOfWorkFactory, migrated_database_url: str
) -> None:
    dsn = make_url(migrated_database_url).set(drivername="postgresql")
    with pytest.raises(TransientStorageError):
        async with uow_factory() as uow:
            pid = (await uow.connection.execute(text("SELECT pg_backend_pid()"))).scalar()
            killer = await asyncpg.connect(dsn.render_as_string(hide_password=False))
            try:
                await killer.execute("SELECT pg_terminate_backend($1)", pid)
            finally:
                await killer.close()
            await uow.connection.execute(text("SELECT 1"))
    async with uow_factory() as uow:  # the pool has a live connection again
        assert (await uow.connection.execute(text("SELECT 1"))).scalar() == 1


async def test_retry_later_keeps_the_event_pending_until_due_and_replay_revives_failed(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    add = (tenancy.tenant_a, tenancy.integration_a, "telegram")
    now = utcnow()
    async with uow_factory() as uow:
        retried, failed = await uow.inbound.add_many(
            *add, [(e, "42", inbound_message(e)) for e in ("1", "2")], RAW
        )
        assert await uow.inbound.retry_later(retried, "dropped", now + timedelta(seconds=30))
        assert await uow.inbound.mark(failed, EventStatus.FAILED, error="a bug")
        assert not await uow.inbound.mark(failed, EventStatus.DONE)  # not pending: no change
        await uow.commit()

    async with uow_factory() as uow:
        early = await uow.inbound.stuck(now + timedelta(hours=1), 10, now=now)
        due = await uow.inbound.stuck(now, 10, now=now + timedelta(seconds=31))
        listed = await uow.inbound.list(tenancy.tenant_a, status=EventStatus.FAILED)
        others = await uow.inbound.list(tenancy.tenant_b)
        replayed = await uow.inbound.replay(tenancy.tenant_a, failed)
        await uow.commit()

    assert early == [] and due == [retried]
    assert [(e.id, e.error, e.attempts) for e in listed] == [(failed, "a bug", 1)]
    assert others == []
    assert (replayed.status, replayed.attempts) == (EventStatus.PENDING, 0)


async def test_a_claim_after_a_lapsed_lease_is_in_doubt_and_a_late_failure_changes_nothing(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    lease = timedelta(seconds=60)
    async with uow_factory() as uow:
        item = await uow.outbox.add(
            tenancy.tenant_a, tenancy.integration_a, OutboxKind.MESSAGE, OutboxPayload("42")
        )
        now = utcnow()
        first = await uow.outbox.claim(item.id, now, now + lease)
        due_at_once = await uow.outbox.due(now + lease * 1.01, 10, fresh_before=now - lease)
        second = await uow.outbox.claim(item.id, now + lease * 2, now + lease * 3)
        # The first worker comes back with a failure: the row is no longer its to release.
        late = await uow.outbox.mark_failed(
            item.id, "503", next_attempt_at=now, dead=False, lease_until=now + lease
        )
        await uow.commit()

    assert first is not None and not first.in_doubt
    assert due_at_once == [item.id]  # a lapsed lease is handed out as soon as it lapses
    assert second is not None and second.in_doubt and second.attempts == 2
    assert late is False
