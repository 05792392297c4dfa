"""Inbound events: dedup on (integration, event id), per-conversation order, recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.domain.errors import NotFoundError
from easyflow.domain.messaging import EventStatus, InboundMessage
from easyflow.storage import SqlUnitOfWorkFactory
from easyflow.storage.tables import inbound_events
from easyflow.storage.types import utcnow

from .helpers import Tenancy, inbound_message

RAW = {"update_id": 1, "message": {"text": "hello"}}


def _events(*ids: str, chat_id: str = "42") -> list[tuple[str, str, InboundMessage]]:
    return [(i, chat_id, inbound_message(i, chat_id, text=f"text {i}")) for i in ids]


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(inbound_events)
        return (await connection.execute(query)).scalar_one()


async def test_the_same_event_twice_is_stored_once(
    uow_factory: SqlUnitOfWorkFactory, db_engine: AsyncEngine, tenancy: Tenancy
) -> None:
    add = (tenancy.tenant_a, tenancy.integration_a, "telegram")
    async with uow_factory() as uow:
        first = await uow.inbound.add_many(*add, _events("1", "2", "2"), RAW)
        await uow.commit()
    async with uow_factory() as uow:
        second = await uow.inbound.add_many(*add, _events("1", "2"), RAW)
        mixed = await uow.inbound.add_many(*add, _events("2", "3"), RAW)
        other_integration = await uow.inbound.add_many(
            tenancy.tenant_b, tenancy.integration_b, "telegram", _events("1"), RAW
        )
        await uow.commit()

    assert len(first) == 2 and second == []
    assert len(mixed) == 1 and len(other_integration) == 1
    assert await _count(db_engine) == 4


async def test_a_stored_event_reads_back_whole(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    message = inbound_message("7", "42", text="Где мой заказ 12345?")
    async with uow_factory() as uow:
        (event_id,) = await uow.inbound.add_many(
            tenancy.tenant_a, tenancy.integration_a, "telegram", [("7", "42", message)], RAW
        )
        await uow.commit()

    async with uow_factory() as uow:
        event = await uow.inbound.get(event_id)
        missing = await uow.inbound.get(event_id + 1000)

    assert event is not None and missing is None
    assert event.message == message
    assert (event.tenant_id, event.integration_id, event.platform) == (
        tenancy.tenant_a,
        tenancy.integration_a,
        "telegram",
    )
    assert (event.event_id, event.conversation_key) == ("7", "42")
    assert (event.status, event.attempts) == (EventStatus.PENDING, 0)


async def test_pending_for_key_is_in_arrival_order_and_skips_done(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    add = (tenancy.tenant_a, tenancy.integration_a, "telegram")
    async with uow_factory() as uow:
        ids = await uow.inbound.add_many(*add, _events("c", "a", "b"), RAW)
        await uow.inbound.add_many(*add, _events("x", chat_id="99"), RAW)
        await uow.inbound.add_many(*add, _events("d"), RAW)
        await uow.inbound.mark(ids[1], EventStatus.DONE)
        await uow.commit()

    async with uow_factory() as uow:
        pending = await uow.inbound.pending_for_key(tenancy.integration_a, "42")

    assert [e.event_id for e in pending] == ["c", "b", "d"]


async def test_mark_counts_attempts_and_missing_rows_fail(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        (event_id,) = await uow.inbound.add_many(
            tenancy.tenant_a, tenancy.integration_a, "telegram", _events("1"), RAW
        )
        await uow.inbound.mark(event_id, EventStatus.PENDING, error="timeout")
        await uow.inbound.mark(event_id, EventStatus.FAILED, error="bad payload")
        with pytest.raises(NotFoundError):
            await uow.inbound.mark(event_id + 1000, EventStatus.DONE)
        event = await uow.inbound.get(event_id)

    assert event is not None
    assert (event.status, event.attempts) == (EventStatus.FAILED, 2)


async def test_stuck_finds_old_pending_events_only(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        ids = await uow.inbound.add_many(
            tenancy.tenant_a, tenancy.integration_a, "telegram", _events("1", "2", "3"), RAW
        )
        await uow.inbound.mark(ids[0], EventStatus.DONE)
        await uow.commit()

    async with uow_factory() as uow:
        later = await uow.inbound.stuck(utcnow() + timedelta(minutes=1), limit=10)
        limited = await uow.inbound.stuck(utcnow() + timedelta(minutes=1), limit=1)
        earlier = await uow.inbound.stuck(utcnow() - timedelta(minutes=1), limit=10)

    assert later == ids[1:] and limited == ids[1:2] and earlier == []


async def test_large_deliveries_are_stored_in_batches(
    uow_factory: SqlUnitOfWorkFactory, db_engine: AsyncEngine, tenancy: Tenancy
) -> None:
    events = _events(*(str(n) for n in range(1200)))
    async with uow_factory() as uow:
        ids = await uow.inbound.add_many(
            tenancy.tenant_a, tenancy.integration_a, "whatsapp", events, RAW
        )
        await uow.commit()

    assert len(ids) == 1200 and ids == sorted(ids)
    assert await _count(db_engine) == 1200
