"""What a seller's operator reads and does: conversations, their messages, dead or
unconfirmed deliveries and failed inbound events (each can be replayed)."""

from __future__ import annotations

from datetime import UTC, datetime

from easyflow.domain.messaging import (
    Conversation,
    ConversationStatus,
    DeliveryAttempt,
    DeliveryStatus,
    EventStatus,
    InboundEvent,
    OutboxItem,
    StoredMessage,
)
from easyflow.ports import TaskQueue, UnitOfWorkFactory


class InboxService:
    def __init__(self, uow: UnitOfWorkFactory, queue: TaskQueue) -> None:
        self._uow = uow
        self._queue = queue

    async def conversations(
        self,
        tenant_id: int,
        *,
        integration_id: int | None = None,
        status: ConversationStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Conversation]:
        async with self._uow() as uow:
            return await uow.conversations.list(
                tenant_id, integration_id=integration_id, status=status, limit=limit, offset=offset
            )

    async def messages(
        self, tenant_id: int, conversation_id: int, *, limit: int = 100, after_id: int = 0
    ) -> list[StoredMessage]:
        async with self._uow() as uow:
            await uow.conversations.get(tenant_id, conversation_id)  # 404 for another tenant's
            return await uow.messages.list(
                tenant_id, conversation_id, limit=limit, after_id=after_id
            )

    async def set_status(
        self, tenant_id: int, conversation_id: int, status: ConversationStatus
    ) -> Conversation:
        """A person takes over (handover) or gives the chat back to the assistant (open)."""
        async with self._uow() as uow:
            await uow.conversations.set_status(tenant_id, conversation_id, status)
            await uow.commit()
            return await uow.conversations.get(tenant_id, conversation_id)

    async def outbox(
        self, tenant_id: int, status: DeliveryStatus | None = None, limit: int = 100
    ) -> list[OutboxItem]:
        async with self._uow() as uow:
            return await uow.outbox.list(tenant_id, status=status, limit=limit)

    async def replay(self, tenant_id: int, outbox_id: int) -> None:
        async with self._uow() as uow:
            await uow.outbox.replay(tenant_id, outbox_id, datetime.now(UTC))
            await uow.commit()
        await self._queue.send_outbox(outbox_id)

    async def delivery(
        self, tenant_id: int, outbox_id: int
    ) -> tuple[OutboxItem, list[DeliveryAttempt]]:
        """An outbox row with its delivery history: every attempt and what became of it."""
        async with self._uow() as uow:
            return await uow.outbox.history(tenant_id, outbox_id)

    async def inbound_events(
        self,
        tenant_id: int,
        status: EventStatus | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
    ) -> list[InboundEvent]:
        async with self._uow() as uow:
            return await uow.inbound.list(tenant_id, status=status, limit=limit, offset=offset)

    async def replay_inbound(self, tenant_id: int, event_id: int) -> InboundEvent:
        """Process a failed event again (after a fix, or once its cause is gone)."""
        async with self._uow() as uow:
            event = await uow.inbound.replay(tenant_id, event_id)
            await uow.commit()
        await self._queue.process_inbound(event_id)
        return event
