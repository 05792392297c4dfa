"""A send whose worker died mid-call is recovered without a second copy, at once.

"Died" is reproduced exactly: the row is claimed with a lease and the platform accepts the
message, and nothing records the result; the lease then lapses. Telegram has no idempotency
key, so such a row becomes UNCONFIRMED for a person; a platform with keys gets the same key
again and drops the repeat. A row that failed before the platform was called is simply sent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from easyflow.domain.errors import TransientStorageError
from easyflow.domain.messaging import (
    DeliveryResult,
    DeliveryStatus,
    MessageAuthor,
    MessageDirection,
    OutboundMessage,
    OutboxItem,
    OutboxKind,
    OutboxPayload,
)
from easyflow.domain.tenancy import Integration
from easyflow.services.outbox import OutboxSender, idempotency_key
from easyflow.services.retries import RetrySchedule
from support.hub import CHAT, Hub

from .test_transient_failures import FlakyFactory  # the injected failing unit of work

TEXT = "A manager will call you today."


async def _queued_reply(hub: Hub) -> OutboxItem:
    """An outbox row for the chat of the hub's customer, not yet handed to any worker."""
    await hub.customer_writes("Hello!")  # the sandbox knows the chat now
    [conversation] = await hub.container.inbox.conversations(hub.tenant_id)
    async with hub.container.uow() as uow:
        stored = await uow.messages.add(
            hub.tenant_id,
            conversation.id,
            direction=MessageDirection.OUTBOUND,
            author=MessageAuthor.HUMAN,
            text=TEXT,
            status=DeliveryStatus.PENDING,
        )
        item = await uow.outbox.add(
            hub.tenant_id,
            hub.integration_id,
            OutboxKind.MESSAGE,
            OutboxPayload(str(CHAT), TEXT),
            conversation_id=conversation.id,
            message_id=stored.id,
        )
        await uow.commit()
    return item


async def _dies_after_the_platform_accepted(hub: Hub, item: OutboxItem, messenger: Any) -> None:
    """A worker claims the row, the platform accepts the send, the worker dies."""
    now = datetime.now(UTC)
    lease_until = now + timedelta(milliseconds=1)  # lapses while the platform answers
    async with hub.container.uow() as uow:
        claimed = await uow.outbox.claim(item.id, now, lease_until)
        await uow.commit()
    assert claimed is not None
    message = OutboundMessage(str(CHAT), TEXT, idempotency_key=idempotency_key(item.id))
    await messenger.send(message)
    # The send took longer than the lease already; this only rules out a coarse clock.
    await asyncio.sleep(max(0.0, (lease_until - datetime.now(UTC)).total_seconds()) + 0.001)


async def _integration(hub: Hub) -> Integration:
    return await hub.container.integrations.get(hub.tenant_id, hub.integration_id)


async def test_telegram_send_in_flight_when_its_worker_died_is_unconfirmed_not_doubled(
    hub: Hub,
) -> None:
    item = await _queued_reply(hub)
    messenger = hub.container.adapters.messenger(await _integration(hub))
    await _dies_after_the_platform_accepted(hub, item, messenger)

    # The lease just lapsed: the sweep hands the row out now, not a minute later.
    assert await hub.container.recovery.run() == (0, 1)
    await hub.settle()

    assert hub.sent().count(TEXT) == 1
    listed = await hub.http.get(
        "/api/v1/outbox", params={"status": "unconfirmed"}, headers=hub.auth
    )
    [row] = listed.json()
    assert (row["id"], row["status"]) == (item.id, "unconfirmed")
    assert "telegram has no idempotency key" in row["last_error"]
    messages = await hub.container.inbox.messages(hub.tenant_id, item.conversation_id or 0)
    assert (messages[-1].status, messages[-1].error) == (
        DeliveryStatus.UNCONFIRMED,
        row["last_error"],
    )
    assert await hub.container.recovery.run() == (0, 0)  # not resent by itself

    # The person checked the chat: the message did not arrive (say), so they replay it.
    replay = await hub.http.post(f"/api/v1/outbox/{item.id}/replay", headers=hub.auth)
    await hub.settle()
    assert replay.status_code == 202
    assert hub.sent().count(TEXT) == 2
    sent = await hub.http.get("/api/v1/outbox", params={"status": "sent"}, headers=hub.auth)
    assert item.id in [r["id"] for r in sent.json()]


@dataclass
class IdempotentPlatform:
    """A messenger platform with idempotency keys: a repeated key is delivered once."""

    delivered: dict[str, str] = field(default_factory=dict)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        assert message.idempotency_key is not None
        self.delivered.setdefault(message.idempotency_key, message.text)
        ids = (str(list(self.delivered).index(message.idempotency_key) + 1),)
        return DeliveryResult(ids, datetime.now(UTC))


class AdaptersWith:
    """The hub's adapters, with one messenger in place of the platform's."""

    def __init__(self, real: Any, messenger: Any, idempotency_keys: bool) -> None:
        self._real = real
        self._messenger = messenger
        self._keys = idempotency_keys

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def messenger(self, integration: Integration) -> Any:
        return self._messenger

    def idempotency_keys(self, platform: str) -> bool:
        return self._keys


def _sender(hub: Hub, adapters: Any, uow: Any = None) -> OutboxSender:
    c = hub.container
    return OutboxSender(uow or c.uow, adapters, c.outbox._locks, c.metrics)


async def test_with_idempotency_keys_the_in_flight_send_is_repeated_with_the_same_key(
    hub: Hub,
) -> None:
    item = await _queued_reply(hub)
    platform = IdempotentPlatform()
    hub.container.outbox = _sender(hub, AdaptersWith(hub.container.adapters, platform, True))
    await _dies_after_the_platform_accepted(hub, item, platform)

    assert await hub.container.recovery.run() == (0, 1)
    await hub.settle()

    assert platform.delivered == {f"easyflow-outbox-{item.id}": TEXT}
    sent = await hub.container.inbox.outbox(hub.tenant_id, DeliveryStatus.SENT)
    assert [(r.id, r.attempts) for r in sent if r.id == item.id] == [(item.id, 2)]


class BrokenMessenger:
    """An adapter meeting a response shape it does not know (a bug, not the platform's)."""

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        raise KeyError("message_id")


async def test_an_unexpected_adapter_error_makes_the_row_dead_with_the_reason(hub: Hub) -> None:
    item = await _queued_reply(hub)
    hub.container.outbox = _sender(
        hub, AdaptersWith(hub.container.adapters, BrokenMessenger(), False)
    )
    await hub.container.queue.send_outbox(item.id)
    await hub.settle()

    [row] = await hub.container.inbox.outbox(hub.tenant_id, DeliveryStatus.DEAD)
    assert row.id == item.id
    assert row.last_error == "unexpected error: KeyError: 'message_id'"
    assert await hub.container.recovery.run(now=datetime.now(UTC) + timedelta(hours=1)) == (0, 0)


async def test_a_row_that_failed_before_the_platform_call_is_sent_once(hub: Hub) -> None:
    flaky = FlakyFactory(hub.container.uow, when="integrations", failures=1)  # the claim
    item = await _queued_reply(hub)
    hub.container.outbox = _sender(hub, hub.container.adapters, flaky)
    await hub.container.queue.send_outbox(item.id)
    await hub.settle()
    assert hub.sent().count(TEXT) == 0

    assert await hub.container.recovery.run(now=datetime.now(UTC) + timedelta(minutes=5)) == (
        0,
        1,
    )
    await hub.settle()
    assert hub.sent().count(TEXT) == 1
    sent = await hub.container.inbox.outbox(hub.tenant_id, DeliveryStatus.SENT)
    assert item.id in [r.id for r in sent]


async def test_a_database_blip_while_recording_a_sent_message_is_retried(hub: Hub) -> None:
    flaky = FlakyFactory(hub.container.uow, when="messages", failures=2)  # recording "sent"
    item = await _queued_reply(hub)
    hub.container.outbox = _sender(hub, hub.container.adapters, flaky)
    await hub.container.queue.send_outbox(item.id)
    await hub.settle()

    assert hub.sent().count(TEXT) == 1
    sent = await hub.container.inbox.outbox(hub.tenant_id, DeliveryStatus.SENT)
    assert [(r.id, r.attempts) for r in sent if r.id == item.id] == [(item.id, 1)]
    assert await hub.container.recovery.run(now=datetime.now(UTC) + timedelta(hours=1)) == (0, 0)


class RedisDownOnce:
    """The real messenger, except that its first send meets an unreachable Redis (the shared
    rate-limit budget), which PlatformClient consults before the request leaves."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.failed = False

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if not self.failed:
            self.failed = True
            raise TransientStorageError("redis unreachable (rate limit): Connection closed")
        result: DeliveryResult = await self._real.send(message)
        return result


async def test_redis_down_before_the_send_retries_the_row_instead_of_killing_it(
    hub: Hub,
) -> None:
    item = await _queued_reply(hub)
    integration = await hub.container.integrations.get(hub.tenant_id, hub.integration_id)
    messenger = RedisDownOnce(hub.container.adapters.messenger(integration))
    c = hub.container
    c.outbox = OutboxSender(  # retries due at once
        c.uow,
        AdaptersWith(c.adapters, messenger, False),
        c.outbox._locks,
        c.metrics,
        retry=RetrySchedule(base_seconds=0.0),
    )
    await hub.container.queue.send_outbox(item.id)
    await hub.settle()

    [row] = await hub.container.inbox.outbox(hub.tenant_id, DeliveryStatus.FAILED)
    assert row.id == item.id and "redis unreachable" in (row.last_error or "")
    assert await hub.container.recovery.run(now=datetime.now(UTC) + timedelta(hours=1)) == (0, 1)
    await hub.settle()
    assert hub.sent().count(TEXT) == 1
