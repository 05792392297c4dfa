"""Outbound delivery: claim an outbox row, send it through the messenger, record the result.

Every reply and notification goes through here. A row is claimed with a lease, so two
workers never send it twice; each conversation's rows are sent oldest first under its lock,
and a row waiting for a retry holds the ones behind it, so replies never overtake each other.

Outcomes, classified once (`domain.errors.is_transient`):
- sent: recorded, retrying the recording a few times if the database blips, since only this
  worker knows the platform accepted it;
- transient (platform 5xx, timeout, 429): retried with backoff (at least the platform's
  `retry_after`), dead after `max_attempts` with "gave up after N attempts";
- rejected, misconfigured, or an unexpected exception from the adapter (a bug, a response
  shape it did not expect): dead at once with the reason — visible in the API, replayable;
- unknown: a claimed row whose lease lapsed without a result was in flight when its worker
  died; a send that timed out after the request was written, or lost its connection before
  the answer, may have arrived too. It is sent again with the same idempotency key
  (`easyflow-outbox-<id>`, VK's `random_id`) where the platform has them, and marked
  UNCONFIRMED with the reason where it has none (Telegram, WhatsApp, Viber): a second copy
  is worse than a person checking. For those platforms the send runs in
  `send_at_most_once()`, so the HTTP client does not repeat such a request either. A
  database error before the claim is committed leaves the row untouched: it is due again.

Every outcome also appends an attempt row (the delivery history of `GET /api/v1/outbox/{id}`
and `easyflow outbox show`), written by the statement that records the outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import structlog

from easyflow.domain.delivery import send_at_most_once
from easyflow.domain.errors import (
    NotFoundError,
    OutcomeUnknownError,
    PlatformError,
    RetryableError,
    TransientStorageError,
)
from easyflow.domain.messaging import DeliveryStatus, OutboxItem, OutboxKind
from easyflow.domain.tenancy import Integration
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, Locks, Messenger, UnitOfWork, UnitOfWorkFactory
from easyflow.services.messaging import conversation_lock
from easyflow.services.retries import RetrySchedule, describe, gave_up

log = structlog.get_logger("easyflow.outbox")

RECORD_ATTEMPTS = 5  # recording a result: ~1.5 s of retries, well inside any lease


def idempotency_key(outbox_id: int) -> str:
    """The same key on every attempt of one row, so a platform can drop a repeat."""
    return f"easyflow-outbox-{outbox_id}"


class OutboxSender:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        adapters: Adapters,
        locks: Locks,
        metrics: Metrics,
        lease_seconds: float = 60.0,
        retry: RetrySchedule | None = None,
    ) -> None:
        self._uow = uow
        self._adapters = adapters
        self._locks = locks
        self._metrics = metrics
        self._retry = retry or RetrySchedule()
        self._lease = timedelta(seconds=lease_seconds)

    async def send_outbox(self, outbox_id: int) -> None:
        """Send this row, after every older unsent row of its conversation (FIFO per chat)."""
        try:
            await self._send_queue(outbox_id)
        except TransientStorageError as exc:
            # Nothing was claimed, or the lease will lapse: the sweep hands the row out again.
            log.warning("outbox row left to the sweep", outbox_id=outbox_id, error=str(exc))

    async def _send_queue(self, outbox_id: int) -> None:
        async with self._uow() as uow:
            item = await uow.outbox.get(outbox_id)
        if item is None or item.status not in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            return
        if item.conversation_id is None:
            await self._claim_and_send(item.id)
            return
        key = conversation_lock(item.conversation_id)
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
        lease_until = now + self._lease
        # Everything that can fail before the platform is called happens in the claim's
        # transaction: a lease that outlives its worker then always means "maybe sent".
        async with self._uow() as uow:
            item = await uow.outbox.claim(outbox_id, now, lease_until)
            if item is None:
                return False  # another worker holds it, or it is not due
            integration = await _integration(uow, item)
            if integration is None or not integration.is_active:
                reason = "integration is paused or deleted"
                await self._write_failure(uow, item, reason, dead=True, at=now)
                outcome = DeliveryStatus.DEAD
            elif item.in_doubt and not self._repeatable(item, integration):
                outcome = DeliveryStatus.UNCONFIRMED
                await self._write_unconfirmed(uow, item, integration.platform)
            else:
                outcome = DeliveryStatus.PENDING
            await uow.commit()
        if integration is None or outcome is not DeliveryStatus.PENDING:
            platform = integration.platform if integration else "unknown"
            self._metrics.outbox.labels(platform, outcome.value).inc()
            return True
        return await self._deliver(item, integration, lease_until)

    async def deliver_claimed(
        self, item: OutboxItem, integration: Integration, lease_until: datetime
    ) -> None:
        """Send a row its caller stored already claimed until `lease_until`, holding the
        conversation's lock (the inbound processor, for the chat's only unsent reply)."""
        try:
            await self._deliver(item, integration, lease_until)
        except TransientStorageError as exc:
            log.warning("outbox row left to the sweep", outbox_id=item.id, error=str(exc))

    def _repeatable(self, item: OutboxItem, integration: Integration) -> bool:
        """Whether sending an in-doubt row again cannot show the customer a second copy."""
        if item.kind is OutboxKind.CALLBACK_ANSWER:
            return True  # a second answer to a callback query shows nothing new
        return self._adapters.idempotency_keys(integration.platform)

    async def _deliver(self, item: OutboxItem, integration: Integration, lease: datetime) -> bool:
        platform = integration.platform
        repeatable = self._repeatable(item, integration)
        try:
            with send_at_most_once(not repeatable):
                ids = await _call(self._adapters.messenger(integration), item)
            platform_message_id = ",".join(str(i) for i in ids) or None
        except (RetryableError, TransientStorageError) as exc:
            if isinstance(exc, OutcomeUnknownError) and not repeatable:
                await self._unconfirmed(item, platform, str(exc))
                return True  # a person decides; the rows behind it go on
            # TransientStorageError: shared state (Redis: the rate-limit budget) failed before
            # the request left, so the row was not sent and is simply retried.
            dead = self._retry.exhausted(item.attempts)
            error = gave_up(item.attempts, str(exc)) if dead else str(exc)
            retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
            at = self._retry.next_attempt_at(item.attempts, retry_after)
            await self._fail(item, error, dead=dead, at=at, lease=lease, platform=platform)
            return dead  # a dead row no longer holds the queue; a retrying one does
        except PlatformError as exc:
            await self._fail(item, str(exc), dead=True, at=None, lease=lease, platform=platform)
            return True
        except Exception as exc:
            # A bug or a response the adapter did not expect: retrying will not help.
            log.exception("adapter failed unexpectedly", outbox_id=item.id)
            error = f"unexpected error: {describe(exc)}"
            await self._fail(item, error, dead=True, at=None, lease=lease, platform=platform)
            return True
        await self._succeed(item, platform, platform_message_id)
        return True

    async def _succeed(self, item: OutboxItem, platform: str, platform_id: str | None) -> None:
        now = datetime.now(UTC)

        async def write(uow: UnitOfWork) -> None:
            message = None if item.message_id is None else (item.tenant_id, item.message_id)
            await uow.outbox.mark_sent(
                item.id, now, message=message, platform_message_id=platform_id
            )

        if await self._record(item, write, single_write=True):
            self._metrics.outbox.labels(platform, "sent").inc()

    async def _fail(
        self,
        item: OutboxItem,
        error: str,
        *,
        dead: bool,
        at: datetime | None,
        lease: datetime,
        platform: str,
    ) -> None:
        async def write(uow: UnitOfWork) -> None:
            await self._write_failure(uow, item, error, dead=dead, at=at, lease=lease)

        status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
        if await self._record(item, write):
            self._metrics.outbox.labels(platform, status.value).inc()
        log.warning("outbox delivery failed", outbox_id=item.id, dead=dead, error=error)

    async def _write_failure(
        self,
        uow: UnitOfWork,
        item: OutboxItem,
        error: str,
        *,
        dead: bool,
        at: datetime | None,
        lease: datetime | None = None,
    ) -> None:
        at = at or datetime.now(UTC)
        released = await uow.outbox.mark_failed(
            item.id, error, next_attempt_at=at, dead=dead, lease_until=lease
        )
        if released and item.message_id is not None:
            status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
            await uow.messages.set_delivery(
                item.tenant_id, item.message_id, status=status, error=error
            )

    async def _unconfirmed(self, item: OutboxItem, platform: str, error: str) -> None:
        """A send that may have arrived, on a platform that cannot drop a repeat."""

        async def write(uow: UnitOfWork) -> None:
            await self._write_unconfirmed(uow, item, platform, cause=error)

        if await self._record(item, write):
            self._metrics.outbox.labels(platform, DeliveryStatus.UNCONFIRMED.value).inc()

    async def _write_unconfirmed(
        self, uow: UnitOfWork, item: OutboxItem, platform: str, cause: str | None = None
    ) -> None:
        what = (
            f"attempt {item.attempts - 1} was in flight when its worker stopped"
            if cause is None
            else f"attempt {item.attempts} got no answer ({cause})"
        )
        reason = (
            f"{what}; {platform} has no idempotency key, so it may or may not have arrived: "
            "check the chat, and replay it if it did not"
        )
        await uow.outbox.mark_unconfirmed(item.id, reason)
        if item.message_id is not None:
            await uow.messages.set_delivery(
                item.tenant_id, item.message_id, status=DeliveryStatus.UNCONFIRMED, error=reason
            )
        log.warning("outbox row unconfirmed", outbox_id=item.id)

    async def _record(
        self,
        item: OutboxItem,
        write: Callable[[UnitOfWork], Awaitable[None]],
        *,
        single_write: bool = False,
    ) -> bool:
        """Write a result, retrying a transient database failure for a short while.

        If it still fails, the lease lapses and the row is treated as in flight (above).
        """
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                unit = self._uow.single_write() if single_write else self._uow()
                async with unit as uow:
                    await write(uow)
                    await uow.commit()
                return True
            except TransientStorageError as exc:
                if attempt == RECORD_ATTEMPTS:
                    log.error(
                        "could not record a delivery result", outbox_id=item.id, error=str(exc)
                    )
                    return False
                await asyncio.sleep(0.05 * 2**attempt)
        return False


async def _integration(uow: UnitOfWork, item: OutboxItem) -> Integration | None:
    try:
        return await uow.integrations.get(item.tenant_id, item.integration_id)
    except NotFoundError:
        return None


async def _call(messenger: Messenger, item: OutboxItem) -> tuple[str, ...]:
    if item.kind is OutboxKind.CALLBACK_ANSWER:
        await messenger.answer_callback(item.payload.callback_id or "")
        return ()
    message = item.payload.message(idempotency_key(item.id), item.customer_wrote_at)
    return (await messenger.send(message)).platform_message_ids
