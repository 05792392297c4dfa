"""Order status changes turned into customer messages: `order_shipped` for now.

The sync hands the status changes of a page to `stage()` inside the page's transaction, so a
message is queued exactly when the change is committed: a page read again (resumed run,
look-back) changes nothing and queues nothing. The recipient is every contact of the tenant
who proved the order's phone number, on the messenger that contact wrote from; the text goes
through the outbox like any reply, and `kick()` hands it to the sender after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from easyflow.domain.commerce import OrderStatus, OrderStatusChanged
from easyflow.domain.messaging import (
    DeliveryStatus,
    MessageAuthor,
    MessageDirection,
    OutboxKind,
    OutboxPayload,
)
from easyflow.domain.phones import digits, national
from easyflow.domain.tenancy import Integration
from easyflow.ports import SyncUnitOfWork, TaskQueue

log = structlog.get_logger("easyflow.notifications")

TEMPLATES = {
    ("order_shipped", "ru"): "Ваш заказ №{number} отправлен.",
    ("order_shipped", "en"): "Your order #{number} has shipped.",
}
EVENTS = {OrderStatus.SHIPPED: "order_shipped"}


def render(event: str, language: str | None, number: str) -> str:
    lang = "ru" if (language or "ru").lower().startswith("ru") else "en"
    return TEMPLATES[(event, lang)].format(number=number)


def phone_keys(phone: str | None) -> set[str]:
    """The ways a proved phone may be stored (digits only, with or without 7/8)."""
    core = national(phone)
    if not core:
        return set()
    return {digits(phone), core, "7" + core, "8" + core}


class OrderNotifier:
    def __init__(self, queue: TaskQueue) -> None:
        self._queue = queue

    async def stage(
        self, uow: SyncUnitOfWork, integration: Integration, changes: Sequence[OrderStatusChanged]
    ) -> list[int]:
        """Queue the messages these changes call for; the outbox ids."""
        wanted = [c for c in changes if c.new_status in EVENTS and phone_keys(c.customer_phone)]
        if not wanted:
            return []
        keys = set().union(*(phone_keys(c.customer_phone) for c in wanted))
        recipients = await uow.sync.recipients(integration.tenant_id, sorted(keys))
        ids = []
        for change in wanted:
            core = national(change.customer_phone)
            for r in (r for r in recipients if national(r.phone) == core):
                text = render(EVENTS[change.new_status], r.language, change.number)
                message = await uow.messages.add(
                    change.tenant_id,
                    r.conversation_id,
                    direction=MessageDirection.OUTBOUND,
                    author=MessageAuthor.ASSISTANT,
                    text=text,
                    status=DeliveryStatus.PENDING,
                )
                item = await uow.outbox.add(
                    change.tenant_id,
                    r.integration_id,
                    OutboxKind.MESSAGE,
                    OutboxPayload(r.chat_id, text, event=EVENTS[change.new_status]),
                    conversation_id=r.conversation_id,
                    message_id=message.id,
                )
                ids.append(item.id)
        return ids

    async def kick(self, outbox_ids: Sequence[int]) -> None:
        """After the commit: hand the messages to the sender (the sweep would, later)."""
        for outbox_id in outbox_ids:
            await self._queue.send_outbox(outbox_id)
