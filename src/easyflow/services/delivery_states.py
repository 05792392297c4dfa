"""What the platforms report about the messages the hub sent, applied to the stored messages.

WhatsApp's statuses and Viber's delivered, seen and failed callbacks reach the webhook route
like customer messages; intake hands them here (`ports.DeliveryTracker`). A message moves only
forward (`domain.messaging.DELIVERY_STATE_FROM`), so a report that arrives late or twice
changes nothing. A failure the platform reports after taking the message (WhatsApp 131047:
outside the 24-hour window) makes the message dead with the platform's reason, listed and
replayable like any dead message, never silently lost. Lifecycle events (subscribed,
unsubscribed, conversation started) are logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import structlog

from easyflow.domain.messaging import (
    REPORTED_STATUS,
    DeliveryChange,
    DeliveryUpdate,
    LifecycleEvent,
    WebhookEvent,
)
from easyflow.domain.tenancy import Integration
from easyflow.ports import UnitOfWorkFactory

log = structlog.get_logger("easyflow.delivery_states")

# Reports waiting for their message in one process at most (bounded memory under a flood of
# reports about messages the hub never sent).
MAX_WAITING = 1000


def _change(update: DeliveryUpdate) -> DeliveryChange:
    error = None
    if update.error or update.error_code:
        code = f" ({update.error_code})" if update.error_code else ""
        error = f"the platform reported: {update.error or 'failed'}{code}"
    return DeliveryChange(update.platform_message_id, REPORTED_STATUS[update.state], error)


class DeliveryStates:
    """Implements `ports.DeliveryTracker`: one transaction per webhook delivery.

    A report can overtake the send it is about: the platform answers the send and fires its
    "sent" webhook at once, before the worker has recorded the platform's id for the message.
    Reports that find no message are applied again after `retry_after` seconds, up to
    `retries` times, in the background (best effort: a report lost in a crash only leaves the
    message at "sent").
    """

    def __init__(
        self, uow: UnitOfWorkFactory, retry_after: tuple[float, ...] = (0.5, 2.0, 10.0)
    ) -> None:
        self._uow = uow
        self._retry_after = retry_after
        self._later: set[asyncio.Task[None]] = set()

    async def record(self, integration: Integration, events: Sequence[WebhookEvent]) -> None:
        changes = [_change(e) for e in events if isinstance(e, DeliveryUpdate)]
        for event in events:
            if isinstance(event, LifecycleEvent):
                log.info(
                    "customer lifecycle event",
                    integration_id=integration.id,
                    kind=event.kind.value,
                )
        if not changes:
            return
        unmatched = await self._apply(integration, changes)
        if unmatched and len(self._later) < MAX_WAITING:
            task = asyncio.create_task(self._again(integration, unmatched))
            self._later.add(task)
            task.add_done_callback(self._later.discard)

    async def _apply(
        self, integration: Integration, changes: Sequence[DeliveryChange]
    ) -> list[DeliveryChange]:
        async with self._uow() as uow:
            unmatched = await uow.messages.apply_delivery_states(
                integration.tenant_id, integration.id, changes
            )
            await uow.commit()
        return unmatched

    async def _again(self, integration: Integration, changes: list[DeliveryChange]) -> None:
        for delay in self._retry_after:
            await asyncio.sleep(delay)
            try:
                changes = await self._apply(integration, changes)
            except Exception as exc:  # a background task: report it, never raise into nothing
                log.warning("delivery report not applied", error=str(exc))
                return
            if not changes:
                return
        log.info(
            "delivery reports for messages the hub did not send",
            integration_id=integration.id,
            count=len(changes),
        )

    async def wait_idle(self) -> None:
        """Until the reports waiting for their messages are applied or given up (tests)."""
        while self._later:
            await asyncio.gather(*list(self._later), return_exceptions=True)
