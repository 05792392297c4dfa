"""Outbound delivery: claim an outbox row, send it through the messenger, record the result.

Every reply and notification goes through here. A row is claimed with a lease, so two
workers never send it twice; a transient failure reschedules it with backoff (or the wait
the platform asked for), and after `max_attempts` it is dead: kept, visible in the API and
replayable. Each conversation's rows are sent oldest first under its lock, and a row waiting
for a retry holds the ones behind it, so replies never overtake each other.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import structlog

from easyflow.domain.errors import NotFoundError, PlatformError, RetryableError
from easyflow.domain.messaging import DeliveryStatus, OutboundMessage, OutboxItem, OutboxKind
from easyflow.domain.tenancy import Integration
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, Locks, UnitOfWorkFactory
from easyflow.services.messaging import conversation_lock

log = structlog.get_logger("easyflow.outbox")


def backoff(attempt: int, base: float = 5.0, cap: float = 3600.0) -> float:
    """Exponential backoff with full jitter, in seconds, for the n-th failed attempt."""
    return random.uniform(0, min(cap, base * 2 ** max(0, attempt - 1)))  # noqa: S311


class OutboxSender:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        adapters: Adapters,
        locks: Locks,
        metrics: Metrics,
        max_attempts: int = 8,
        lease_seconds: float = 120.0,
    ) -> None:
        self._uow = uow
        self._adapters = adapters
        self._locks = locks
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._lease = timedelta(seconds=lease_seconds)

    async def send_outbox(self, outbox_id: int) -> None:
        """Send this row, after every older unsent row of its conversation (FIFO per chat)."""
        async with self._uow() as uow:
            item = await uow.outbox.get(outbox_id)
        if item is None or item.status not in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            return
        if item.conversation_id is None:
            await self._claim_and_send(item.id)
            return
        key = conversation_lock(item.integration_id, str(item.payload.get("chat_id", "")))
        async with self._locks.hold(key, self._lease.total_seconds()):
            async with self._uow() as uow:
                queue = await uow.outbox.unsent_for_conversation(item.conversation_id)
            for queued in queue:
                if queued.next_attempt_at > datetime.now(UTC):
                    break  # an older message waits for its retry: later ones wait behind it
                if not await self._claim_and_send(queued.id):
                    break

    async def _claim_and_send(self, outbox_id: int) -> bool:
        """Deliver one row if it can be claimed; False when the conversation must stop here."""
        now = datetime.now(UTC)
        async with self._uow() as uow:
            item = await uow.outbox.claim(outbox_id, now, now + self._lease)
            await uow.commit()
        if item is None:
            return False  # another worker holds it
        async with self._uow() as uow:
            try:
                integration = await uow.integrations.get(item.tenant_id, item.integration_id)
            except NotFoundError:
                integration = None
        if integration is None or not integration.is_active:
            await self._fail(
                item, "integration is paused or deleted", dead=True, platform="unknown"
            )
            return True
        return await self._deliver(item, integration)

    async def _deliver(self, item: OutboxItem, integration: Integration) -> bool:
        messenger = self._adapters.messenger(integration)
        try:
            if item.kind is OutboxKind.CALLBACK_ANSWER:
                await messenger.answer_callback(str(item.payload["callback_id"]))
                ids: tuple[str, ...] = ()
            else:
                message = OutboundMessage(str(item.payload["chat_id"]), str(item.payload["text"]))
                ids = (await messenger.send(message)).platform_message_ids
        except RetryableError as exc:
            dead = item.attempts >= self._max_attempts
            wait = max(exc.retry_after or 0.0, backoff(item.attempts))
            await self._fail(item, str(exc), dead=dead, wait=wait, platform=integration.platform)
            return dead  # a dead row no longer holds the queue; a retrying one does
        except PlatformError as exc:
            await self._fail(item, str(exc), dead=True, platform=integration.platform)
            return True
        await self._succeed(item, integration.platform, ids)
        return True

    async def _succeed(self, item: OutboxItem, platform: str, ids: tuple[str, ...]) -> None:
        now = datetime.now(UTC)
        async with self._uow() as uow:
            await uow.outbox.mark_sent(item.id, now)
            if item.message_id is not None:
                await uow.messages.set_delivery(
                    item.tenant_id,
                    item.message_id,
                    status=DeliveryStatus.SENT,
                    platform_message_id=",".join(ids) or None,
                    sent_at=now,
                )
            await uow.commit()
        self._metrics.outbox.labels(platform, "sent").inc()

    async def _fail(
        self, item: OutboxItem, error: str, *, dead: bool, platform: str, wait: float = 0.0
    ) -> None:
        next_attempt = datetime.now(UTC) + timedelta(seconds=wait)
        status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
        async with self._uow() as uow:
            await uow.outbox.mark_failed(item.id, error, next_attempt_at=next_attempt, dead=dead)
            if item.message_id is not None:
                await uow.messages.set_delivery(
                    item.tenant_id, item.message_id, status=status, error=error
                )
            await uow.commit()
        self._metrics.outbox.labels(platform, status.value).inc()
        log.warning("outbox delivery failed", outbox_id=item.id, dead=dead, error=error)
