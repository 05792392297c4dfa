"""The outbox: exclusive claims with a lease, retries, dead letters and replay."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.domain.ai import ChatReply, TokenUsage
from easyflow.domain.errors import InvalidRequestError, NotFoundError
from easyflow.domain.messaging import (
    Button,
    DeliveryStatus,
    EventStatus,
    InboundEvent,
    MessageAuthor,
    MessageTemplate,
    OutboxItem,
    OutboxKind,
    OutboxPayload,
    Sender,
)
from easyflow.storage import SqlUnitOfWorkFactory
from easyflow.storage.tables import messages, outbox
from easyflow.storage.types import utcnow

from .helpers import T0, Tenancy, inbound_message

LEASE = timedelta(seconds=30)


async def _add(uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy) -> OutboxItem:
    async with uow_factory() as uow:
        item = await uow.outbox.add(
            tenancy.tenant_a, tenancy.integration_a, OutboxKind.MESSAGE, OutboxPayload("42")
        )
        await uow.commit()
    return item


async def _claim(
    uow_factory: SqlUnitOfWorkFactory, outbox_id: int, now: datetime | None = None
) -> OutboxItem | None:
    now = now or utcnow()
    async with uow_factory() as uow:
        item = await uow.outbox.claim(outbox_id, now, now + LEASE)
        await uow.commit()
    return item


async def test_a_new_row_is_pending_and_due_now(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    item = await _add(uow_factory, tenancy)

    async with uow_factory() as uow:
        due = await uow.outbox.due(utcnow() + timedelta(seconds=1), limit=10)
        not_yet = await uow.outbox.due(item.created_at - timedelta(seconds=1), limit=10)

    assert (item.status, item.attempts, item.payload) == (
        DeliveryStatus.PENDING,
        0,
        OutboxPayload("42"),
    )
    assert due == [item.id] and not_yet == []


async def test_concurrent_claims_have_one_winner(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    item = await _add(uow_factory, tenancy)
    workers = 5
    barrier = asyncio.Barrier(workers)

    async def worker() -> OutboxItem | None:
        now = utcnow()
        # A factory each, as in separate processes: one factory queues its own units on
        # SQLite, so the race would not happen inside it.
        factory = SqlUnitOfWorkFactory(uow_factory.engine, uow_factory._cipher)
        async with factory() as uow:
            await barrier.wait()  # every worker holds a connection: the UPDATEs race
            claimed = await uow.outbox.claim(item.id, now, now + LEASE)
            await uow.commit()
        return claimed

    claims = await asyncio.gather(*(worker() for _ in range(workers)))

    winners = [claim for claim in claims if claim is not None]
    assert len(winners) == 1 and winners[0].attempts == 1


async def test_a_lapsed_lease_frees_the_row_again(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    item = await _add(uow_factory, tenancy)
    now = utcnow()

    first = await _claim(uow_factory, item.id, now)
    during = await _claim(uow_factory, item.id, now + LEASE / 2)
    async with uow_factory() as uow:
        due_during = await uow.outbox.due(now + LEASE / 2, limit=10)
        due_after = await uow.outbox.due(now + LEASE * 2, limit=10)
    after = await _claim(uow_factory, item.id, now + LEASE * 2)

    assert first is not None and during is None and due_during == []
    assert due_after == [item.id]
    assert after is not None and after.attempts == 2


async def test_failed_rows_wait_for_their_next_attempt_and_dead_rows_stay(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    retried, dead = await _add(uow_factory, tenancy), await _add(uow_factory, tenancy)
    now = utcnow()
    async with uow_factory() as uow:
        for item in (retried, dead):
            await uow.outbox.claim(item.id, now, now + LEASE)
        await uow.outbox.mark_failed(retried.id, "503", next_attempt_at=now + LEASE, dead=False)
        await uow.outbox.mark_failed(dead.id, "403 blocked", next_attempt_at=now, dead=True)
        await uow.commit()

    async with uow_factory() as uow:
        due_now = await uow.outbox.due(now, limit=10)
        due_later = await uow.outbox.due(now + LEASE, limit=10)
        assert await uow.outbox.claim(dead.id, now + LEASE, now + LEASE * 2) is None
        (failed,) = await uow.outbox.list(tenancy.tenant_a, status=DeliveryStatus.FAILED)
        (gone,) = await uow.outbox.list(tenancy.tenant_a, status=DeliveryStatus.DEAD)

    assert due_now == [] and due_later == [retried.id]
    assert (failed.id, failed.last_error, failed.attempts) == (retried.id, "503", 1)
    assert (gone.id, gone.last_error) == (dead.id, "403 blocked")


async def test_sent_rows_are_done(uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy) -> None:
    item = await _add(uow_factory, tenancy)
    claimed = await _claim(uow_factory, item.id)
    async with uow_factory() as uow:
        await uow.outbox.mark_sent(item.id, utcnow())
        with pytest.raises(NotFoundError):
            await uow.outbox.mark_sent(item.id + 1000, utcnow())
        await uow.commit()

    async with uow_factory() as uow:
        due = await uow.outbox.due(utcnow() + LEASE * 10, limit=10)
        (sent,) = await uow.outbox.list(tenancy.tenant_a)

    assert claimed is not None and due == []
    assert sent.status is DeliveryStatus.SENT


async def test_replay_sends_a_dead_row_again_for_its_tenant_only(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    item = await _add(uow_factory, tenancy)
    now = utcnow()
    async with uow_factory() as uow:
        await uow.outbox.claim(item.id, now, now + LEASE)
        await uow.outbox.mark_failed(item.id, "gave up", next_attempt_at=now, dead=True)
        with pytest.raises(NotFoundError):
            await uow.outbox.replay(tenancy.tenant_b, item.id, now)
        await uow.outbox.replay(tenancy.tenant_a, item.id, now)
        with pytest.raises(InvalidRequestError):
            await uow.outbox.replay(tenancy.tenant_a, item.id, now)
        await uow.commit()

    replayed = await _claim(uow_factory, item.id, now + timedelta(seconds=1))
    async with uow_factory() as uow:
        assert await uow.outbox.list(tenancy.tenant_b) == []
        with pytest.raises(NotFoundError):
            await uow.outbox.add(
                tenancy.tenant_b, tenancy.integration_a, OutboxKind.MESSAGE, OutboxPayload()
            )

    assert replayed is not None
    assert (replayed.status, replayed.attempts) == (DeliveryStatus.PENDING, 1)


async def test_a_typed_payload_is_stored_and_read_back_whole(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    payload = OutboxPayload(
        "42",
        "Your order #1001 has shipped.",
        buttons=((Button("Track", "track:1001"), Button("Site", url="https://shop.example")),),
        template=MessageTemplate("order_shipped", "ru", ("1001", "RR1RU")),
        event="order_shipped",
        html="Your order <b>#1001</b> has shipped.",
    )
    async with uow_factory() as uow:
        added = await uow.outbox.add(
            tenancy.tenant_a, tenancy.integration_a, OutboxKind.MESSAGE, payload
        )
        await uow.commit()
    claimed = await _claim(uow_factory, added.id)

    assert added.payload == payload
    assert claimed is not None and claimed.payload == payload


async def test_rows_written_as_plain_dicts_by_earlier_versions_still_load(
    uow_factory: SqlUnitOfWorkFactory, db_engine: AsyncEngine, tenancy: Tenancy
) -> None:
    legacy = [
        ("message", {"chat_id": "42", "text": "Hi", "event": "order_shipped"}),
        ("callback_answer", {"callback_id": "cb-7"}),
    ]
    now = utcnow()
    rows = [
        {
            "tenant_id": tenancy.tenant_a,
            "integration_id": tenancy.integration_a,
            "kind": kind,
            "payload": payload,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for kind, payload in legacy
    ]
    async with db_engine.begin() as connection:
        await connection.execute(insert(outbox), rows)
    async with uow_factory() as uow:
        items = await uow.outbox.list(tenancy.tenant_a)

    assert [i.payload for i in reversed(items)] == [
        OutboxPayload("42", "Hi", event="order_shipped"),
        OutboxPayload(callback_id="cb-7"),
    ]


async def _pending_event_in_conversation(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy, older_unsent: bool = False
) -> tuple[InboundEvent, int]:
    a, integration = tenancy.tenant_a, tenancy.integration_a
    async with uow_factory() as uow:
        (event_id,) = await uow.inbound.add_many(
            a, integration, "telegram", [("e1", "42", inbound_message("e1"))], {}
        )
        contact = await uow.contacts.upsert(a, integration, Sender("42", "Ann"))
        conversation = await uow.conversations.upsert(a, integration, contact.id, "42", T0)
        if older_unsent:
            await uow.outbox.add(
                a, integration, OutboxKind.MESSAGE, OutboxPayload("42", text="earlier"),
                conversation_id=conversation.id,
            )  # fmt: skip
        event = await uow.inbound.get(event_id)
        await uow.commit()
    assert event is not None
    return event, conversation.id


async def _written(uow_factory: SqlUnitOfWorkFactory, tenant_id: int) -> tuple[Any, ...]:
    async with uow_factory() as uow:
        usage = await uow.ai_usage.totals(tenant_id)
        connection = uow.connection
        replies = (
            await connection.execute(
                select(messages.c.text, messages.c.status).where(
                    messages.c.author == MessageAuthor.ASSISTANT.value
                )
            )
        ).all()
        rows = (await connection.execute(select(outbox.c.message_id, outbox.c.attempts))).all()
    return usage["requests"], usage["total_tokens"], replies, rows


async def test_a_reply_marks_its_event_records_usage_and_queues_its_message_claimed(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    event, conversation_id = await _pending_event_in_conversation(uow_factory, tenancy)
    reply = ChatReply("2-4 days", "openai", "gpt", TokenUsage(7, 3))
    lease = utcnow() + LEASE
    async with uow_factory() as uow:
        item = await uow.outbox.add_reply(event, conversation_id, reply, lease_until=lease)
        again = await uow.outbox.add_reply(event, conversation_id, reply, lease_until=lease)
        stored_event = await uow.inbound.get(event.id)
        await uow.commit()

    assert item is not None and again is None  # the event was no longer pending
    assert item.lease_until == lease and item.attempts == 1  # claimed: its first attempt
    assert item.payload == OutboxPayload("42", text="2-4 days")
    assert stored_event is not None and stored_event.status is EventStatus.DONE
    requests, tokens, replies, rows = await _written(uow_factory, tenancy.tenant_a)
    assert (requests, tokens) == (1, 10)
    assert replies == [("2-4 days", DeliveryStatus.PENDING.value)]
    assert len(rows) == 1 and rows[0].message_id == item.message_id is not None


async def test_a_reply_behind_an_unsent_row_is_queued_unclaimed(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    event, conversation_id = await _pending_event_in_conversation(
        uow_factory, tenancy, older_unsent=True
    )
    reply = ChatReply("hi", "local", "faq")
    async with uow_factory() as uow:
        item = await uow.outbox.add_reply(
            event, conversation_id, reply, lease_until=utcnow() + LEASE
        )
        await uow.commit()
    assert item is not None and item.lease_until is None and item.attempts == 0


async def test_a_reply_to_an_event_no_longer_pending_writes_nothing(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    event, conversation_id = await _pending_event_in_conversation(uow_factory, tenancy)
    async with uow_factory() as uow:
        await uow.inbound.mark(event.id, EventStatus.FAILED, error="gone")
        item = await uow.outbox.add_reply(
            event, conversation_id, ChatReply("late", "local", "faq"), lease_until=None
        )
        await uow.commit()
    assert item is None
    assert await _written(uow_factory, tenancy.tenant_a) == (0, 0, [], [])


async def test_a_reply_into_another_tenants_conversation_is_refused_whole(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    event, conversation_id = await _pending_event_in_conversation(uow_factory, tenancy)
    foreign = replace(event, tenant_id=tenancy.tenant_b, integration_id=tenancy.integration_b)
    with pytest.raises(NotFoundError):
        async with uow_factory() as uow:
            await uow.outbox.add_reply(
                foreign, conversation_id, ChatReply("x", "local", "faq"), lease_until=None
            )
            await uow.commit()
    async with uow_factory() as uow:
        stored_event = await uow.inbound.get(event.id)
    assert stored_event is not None and stored_event.status is EventStatus.PENDING
    assert await _written(uow_factory, tenancy.tenant_b) == (0, 0, [], [])
