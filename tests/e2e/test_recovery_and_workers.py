"""A lost task is late, never lost; the Redis broker runs the same flow on a worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from taskiq.api import run_receiver_task

from easyflow.domain.messaging import (
    DeliveryStatus,
    InboundKind,
    InboundMessage,
    MessageAuthor,
    MessageDirection,
    OutboxKind,
    OutboxPayload,
    Sender,
)
from support.hub import CHAT, ORDERS, Hub, running_hub

REDIS_URL = "redis://127.0.0.1:6379/15"


def _message(event_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        event_id=event_id,
        kind=InboundKind.MESSAGE,
        chat_id=str(CHAT),
        sender=Sender(str(CHAT), "Ivan"),
        text=text,
        occurred_at=datetime.now(UTC),
    )


async def test_event_stored_but_never_enqueued_is_recovered(hub: Hub) -> None:
    await hub.customer_writes("Hello!")  # the sandbox knows the chat now
    await hub.link_customer()
    # As if the process died between the commit and the enqueue.
    async with hub.container.uow() as uow:
        await uow.inbound.add_many(
            hub.tenant_id,
            hub.integration_id,
            "telegram",
            [("999001", str(CHAT), _message("999001", "Where is my order 1002?"))],
            {},
        )
        await uow.commit()
    await hub.settle()
    assert len(hub.sent()) == 1  # nothing happens until the sweep

    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await hub.container.recovery.run(now=later) == (1, 0)
    await hub.settle()
    assert hub.sent()[-1] == "Order 1002 is being packed."
    assert await hub.container.recovery.run(now=later) == (0, 0)  # nothing left behind


async def test_outbox_row_whose_send_was_lost_is_delivered_by_the_sweep(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    conversations = await hub.container.inbox.conversations(hub.tenant_id)
    async with hub.container.uow() as uow:
        stored = await uow.messages.add(
            hub.tenant_id,
            conversations[0].id,
            direction=MessageDirection.OUTBOUND,
            author=MessageAuthor.HUMAN,
            text="A manager will call you today.",
            status=DeliveryStatus.PENDING,
        )
        await uow.outbox.add(
            hub.tenant_id,
            hub.integration_id,
            OutboxKind.MESSAGE,
            OutboxPayload(str(CHAT), stored.text),
            conversation_id=conversations[0].id,
            message_id=stored.id,
        )
        await uow.commit()
    assert await hub.container.recovery.run(now=datetime.now(UTC) + timedelta(minutes=5)) == (0, 1)
    await hub.settle()
    assert hub.sent()[-1] == "A manager will call you today."
    messages = await hub.container.inbox.messages(hub.tenant_id, conversations[0].id)
    assert messages[-1].status is DeliveryStatus.SENT


@pytest.fixture
async def redis_hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    redis = aioredis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()
    async with running_hub(
        migrated_database_url, tmp_path, encryption_key, broker_url=REDIS_URL
    ) as hub:
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        worker = asyncio.create_task(run_receiver_task(hub.container.queue.broker))
        try:
            yield hub
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)


async def _until(condition, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)


async def test_redis_broker_worker_answers_in_order(redis_hub: Hub) -> None:
    hub = redis_hub
    await hub.link_customer()
    for text in ("Hello!", "Where is my order 1002?"):
        await hub.sandbox.telegram.customer_writes(hub.token, CHAT, text)
    await _until(lambda: len(hub.sent()) == 2)
    assert hub.sent() == [
        "Hello! I can tell you where your order is — just send its number.",
        "Order 1002 is being packed.",
    ]
    ready = (await hub.http.get("/health/ready")).json()
    assert ready["checks"]["broker"] == "ok"
