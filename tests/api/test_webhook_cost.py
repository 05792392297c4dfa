"""What an accepted webhook costs the database, and that intake's cache follows every change.

Counts, not timings: an accepted delivery of a cached integration is one statement (the
INSERT … RETURNING) in autocommit, with no BEGIN or COMMIT; pausing, resuming, rotating and
deleting are seen by the very next delivery.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from easyflow.webhooks.intake import WebhookIntake
from support.hub import Hub


def _update(update_id: int) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1790000000,
            "chat": {"id": 7001, "type": "private"},
            "from": {"id": 7001, "is_bot": False, "first_name": "Ivan"},
            "text": "Hello!",
        },
    }


class _Enqueued:
    """Keeps the ids intake enqueues, so in-process processing adds no statements here."""

    def __init__(self) -> None:
        self.ids: list[int] = []

    async def process_inbound(self, event_id: int) -> None:
        self.ids.append(event_id)

    async def send_outbox(self, outbox_id: int) -> None:
        raise AssertionError("intake sends nothing")


async def test_an_accepted_webhook_is_one_statement_and_no_transaction(hub: Hub) -> None:
    c = hub.container
    queue = _Enqueued()
    c.intake = WebhookIntake(c.uow, c.adapters, queue, c.metrics, c.integration_cache)
    secret = await hub.webhook_secret()
    assert (await hub.post_update(_update(1), secret)).status_code == 200  # caches it

    statements: list[str] = []
    ends: list[str] = []
    wire: list[str] = []  # PostgreSQL: what asyncpg sent, its own BEGIN/COMMIT included
    engine = c.engine.sync_engine

    def on_query(record: Any) -> None:
        wire.append(record.query.split()[0].upper())

    def on_checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        if hasattr(record.driver_connection, "add_query_logger"):
            record.driver_connection.add_query_logger(on_query)

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(" ".join(sql.split()[:3]))

    def on_commit(_conn: Any) -> None:
        ends.append("commit")

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    event.listen(engine.pool, "checkout", on_checkout)
    try:
        answer = await hub.post_update(_update(2), secret)
        for _ in range(3):  # asyncpg calls its query loggers soon after, not at once
            await asyncio.sleep(0)
        intake = list(statements), list(ends), list(wire)
        async with c.uow() as uow:  # control: what a transaction looks like to the listeners
            await uow.inbound.get(1)
            await uow.commit()
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
        event.remove(engine.pool, "checkout", on_checkout)

    assert answer.status_code == 200
    assert intake[0] == ["INSERT INTO inbound_events"]  # no lookup, no BEGIN (IMMEDIATE)
    assert intake[1] == []  # nothing to commit: the statement committed as it ran
    assert "commit" in ends  # (the listener does see a commit)
    if c.engine.dialect.name == "postgresql":
        assert "BEGIN" in wire  # the listener does see asyncpg's own BEGIN
        assert intake[2] == []  # intake sent none: autocommit, no BEGIN or COMMIT
    assert len(queue.ids) == 2
    assert await hub.count("inbound_events") == 2


async def test_pause_resume_rotate_and_delete_reach_the_next_delivery(hub: Hub) -> None:
    base = f"/api/v1/integrations/{hub.integration_id}"
    secret = await hub.webhook_secret()
    assert (await hub.post_update(_update(1), secret)).status_code == 200  # cached now
    assert await hub.count("inbound_events") == 1

    assert (await hub.http.post(f"{base}/pause", headers=hub.auth)).status_code == 200
    assert (await hub.post_update(_update(2), secret)).status_code == 200
    assert await hub.count("inbound_events") == 1  # paused: acknowledged, not stored

    assert (await hub.http.post(f"{base}/resume", headers=hub.auth)).status_code == 200
    assert (await hub.post_update(_update(3), secret)).status_code == 200
    assert await hub.count("inbound_events") == 2

    assert (
        await hub.http.post(f"{base}/rotate-webhook-secret", headers=hub.auth)
    ).status_code == 204
    new = await hub.webhook_secret()
    assert new != secret
    assert (await hub.post_update(_update(4), new)).status_code == 200
    assert await hub.count("inbound_events") == 3

    # Deleting cascades through the rows processing is writing; on PostgreSQL the two can
    # deadlock, and the loser answers 503 (retry). Not what this test is about: wait first.
    await hub.settle()
    assert (await hub.http.delete(base, headers=hub.auth)).status_code == 204
    assert (await hub.post_update(_update(5), new)).status_code == 401
    await hub.settle()


async def test_concurrent_deliveries_share_their_insert(hub: Hub) -> None:
    """A group commit: deliveries arriving while an insert is on the wire are stored by the
    next one, each still answered only after its own events are committed."""
    c = hub.container
    queue = _Enqueued()
    c.intake = WebhookIntake(c.uow, c.adapters, queue, c.metrics, c.integration_cache)
    secret = await hub.webhook_secret()
    assert (await hub.post_update(_update(1), secret)).status_code == 200  # caches it

    inserts: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if sql.lstrip().upper().startswith("INSERT"):
            inserts.append(sql)

    engine = c.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        # Twice the same update among them: stored once, enqueued once.
        updates = [_update(n) for n in range(2, 22)] + [_update(5)]
        answers = await asyncio.gather(*(hub.post_update(u, secret) for u in updates))
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)

    assert [a.status_code for a in answers] == [200] * len(updates)
    assert await hub.count("inbound_events") == 21
    assert sorted(queue.ids) == sorted(set(queue.ids)) and len(queue.ids) == 21
    assert 1 <= len(inserts) < 20  # shared: fewer statements than deliveries


async def test_a_deleted_integration_fails_only_its_own_delivery_in_a_group(hub: Hub) -> None:
    from easyflow.domain.errors import NotFoundError
    from easyflow.domain.messaging import NewInboundEvents
    from easyflow.webhooks.intake import GroupedInserts

    c = hub.container
    tenant = hub.tenant_id
    parsed = c.adapters.webhook_parser("telegram").parse_document(_update(1))
    rows = tuple((m.event_id, m.chat_id, m) for m in parsed)
    writer = GroupedInserts(c.uow)
    good = NewInboundEvents(tenant, hub.integration_id, "telegram", rows, _update(1))
    gone = NewInboundEvents(tenant, 10**9, "telegram", rows, _update(1))  # no such row
    results = await asyncio.gather(
        writer.add(good), writer.add(gone), writer.add(good), return_exceptions=True
    )
    assert isinstance(results[0], list) and len(results[0]) == 1
    assert isinstance(results[1], NotFoundError)
    assert results[2] == []  # the same event again: a redelivery
    assert await hub.count("inbound_events") == 1
