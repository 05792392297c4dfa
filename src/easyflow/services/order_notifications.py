"""Order status changes turned into customer notifications: `order_shipped` for now.

The sync hands the status changes of a page to `stage()` inside the page's transaction, so a
notification is queued exactly when the change is committed: a page read again (resumed run,
look-back) changes nothing and queues nothing. The recipient is every contact of the tenant
who proved the order's phone number, on the messenger that contact wrote from; the message is
the tenant's template for the event in the contact's language (services/notifications.py),
staged in bulk with the page, and `kick()` hands it to the sender after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from easyflow.domain.commerce import OrderStatus, OrderStatusChanged
from easyflow.domain.errors import InvalidRequestError
from easyflow.domain.notifications import NotificationTarget, StagedNotification
from easyflow.domain.phones import digits, national
from easyflow.domain.tenancy import Integration
from easyflow.ports import SyncUnitOfWork, TaskQueue
from easyflow.services.notifications import kick, render

log = structlog.get_logger("easyflow.notifications")

EVENTS = {OrderStatus.SHIPPED: "order_shipped"}


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
        tenant_id = integration.tenant_id
        recipients = await uow.sync.recipients(tenant_id, sorted(keys))
        # The contacts' names and languages, for the templates: one query for the page.
        targets = {
            t.conversation_id: t
            for t in await uow.notifications.targets(tenant_id, [r.contact_id for r in recipients])
        }
        templates = await uow.notifications.templates(tenant_id)
        staged: list[StagedNotification] = []
        for change in wanted:
            core = national(change.customer_phone)
            event = EVENTS[change.new_status]
            data = {"number": change.number, "status": change.new_status.value}
            for r in (r for r in recipients if national(r.phone) == core):
                target = targets.get(r.conversation_id) or NotificationTarget(
                    r.contact_id, r.integration_id, r.conversation_id, r.chat_id, r.language
                )
                try:
                    staged.append(render(templates, event, target, data))
                except InvalidRequestError as exc:
                    # The tenant's template asks for data an order change does not carry:
                    # the customer is not told, the sync goes on, the tenant sees why.
                    log.warning("notification not rendered", template=event, error=str(exc))
        return await uow.notifications.stage(tenant_id, staged)

    async def kick(self, outbox_ids: Sequence[int]) -> None:
        """After the commit: hand the messages to the sender (the sweep would, later)."""
        await kick(self._queue, outbox_ids)
