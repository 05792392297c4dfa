"""What the platforms report about the messages the hub sent, applied to the stored messages.

WhatsApp's statuses and Viber's delivered, seen and failed callbacks reach the webhook route
like customer messages; intake hands them here (`ports.DeliveryTracker`). A message moves only
forward (`domain.messaging.DELIVERY_STATE_FROM`), so a report that arrives late or twice
changes nothing. A failure the platform reports after taking the message makes the message
dead with the platform's reason, never silently lost. One failure is different: the customer's
service window was closed (WhatsApp 131047), so a template would still reach them. Such a
message is queued again to go out as one (the integration's fallback template; refused with
the reason when none is set), once: a row that was a template already, or was queued so
before, goes dead as any other. The requeue is an attempt in the message's delivery history.
Lifecycle events (subscribed, unsubscribed, conversation started) are logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog

from easyflow.domain.messaging import (
    REPORTED_STATUS,
    DeliveryChange,
    DeliveryUpdate,
    LifecycleEvent,
    WebhookEvent,
)
from easyflow.domain.tenancy import Integration
from easyflow.ports import TaskQueue, UnitOfWorkFactory

log = structlog.get_logger("easyflow.delivery_states")

# Reports waiting for their message in one process at most (bounded memory under a flood of
# reports about messages the hub never sent).
MAX_WAITING = 1000


def _change(update: DeliveryUpdate) -> DeliveryChange:
    error = None
    if update.error or update.error_code:
        code = f" ({update.error_code})" if update.error_code else ""
        error = f"the platform reported: {update.error or 'failed'}{code}"
    return DeliveryChange(
        update.platform_message_id,
        REPORTED_STATUS[update.state],
        error,
        window_closed=update.window_closed,
    )


def _requeue_reason(change: DeliveryChange) -> str:
    return f"{change.error or 'the platform reported a closed window'}; sent again as a template"


class DeliveryStates:
    """Implements `ports.DeliveryTracker`: one transaction per webhook delivery.

    A report can overtake the send it is about: the platform answers the send and fires its
    "sent" webhook at once, before the worker has recorded the platform's id for the message.
    Reports that find no message are applied again after `retry_after` seconds, up to
    `retries` times, in the background (best effort: a report lost in a crash only leaves the
    message at "sent").
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        retry_after: tuple[float, ...] = (0.5, 2.0, 10.0),
        queue: TaskQueue | None = None,
    ) -> None:
        self._uow = uow
        self._queue = queue  # sends a requeued message at once (else the recovery sweep does)
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
        requeued: list[tuple[int, str]] = []
        async with self._uow() as uow:
            closed = [c for c in changes if c.window_closed]
            if closed:
                # One reason for the batch: the rows' shared cause, with the first report's words.
                requeued = await uow.outbox.requeue_window_closed(
                    integration.tenant_id,
                    integration.id,
                    [c.platform_message_id for c in closed],
                    _requeue_reason(closed[0]),
                    datetime.now(UTC),
                )
                again = {pmid for _, pmid in requeued}
                changes = [c for c in changes if c.platform_message_id not in again]
            unmatched = await uow.messages.apply_delivery_states(
                integration.tenant_id, integration.id, changes
            )
            await uow.commit()
        for outbox_id, _ in requeued:
            log.info("requeued as a template", integration_id=integration.id, outbox_id=outbox_id)
            if self._queue is not None:
                await self._queue.send_outbox(outbox_id)
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
