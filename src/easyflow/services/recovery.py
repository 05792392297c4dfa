"""The recovery sweep: a lost task is late, never lost.

The database is the truth. Every interval the sweep hands to the queue again:
- inbound events whose retry is due (a transient failure set `next_attempt_at`), and pending
  events never tried that were received more than `stuck_after` ago (their task was lost);
- outbox rows whose lease lapsed (their worker died mid-send: the sender decides between the
  same idempotency key and "unconfirmed"), failed rows whose retry is due, and pending rows
  never claimed for more than `stuck_after`.
Retries and lapsed leases are handed out as soon as they are due: their task is gone, so
there is nothing to wait for. Only rows that may still have a task queued wait `stuck_after`.
The handlers are idempotent, so a row that was merely slow is not processed twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog

from easyflow.observability.metrics import Metrics
from easyflow.ports import TaskQueue, UnitOfWorkFactory

log = structlog.get_logger("easyflow.recovery")


class RecoverySweep:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        queue: TaskQueue,
        metrics: Metrics,
        stuck_after_seconds: float = 60.0,
        batch: int = 500,
    ) -> None:
        self._uow = uow
        self._queue = queue
        self._metrics = metrics
        self._stuck_after = timedelta(seconds=stuck_after_seconds)
        self._batch = batch

    async def run(self, now: datetime | None = None) -> tuple[int, int]:
        """Re-enqueue what is stuck; returns (inbound events, outbox rows) handed out."""
        now = now or datetime.now(UTC)
        async with self._uow() as uow:
            late = now - self._stuck_after
            events = await uow.inbound.stuck(late, self._batch, now=now)
            outbox = await uow.outbox.due(now, self._batch, fresh_before=late)
        for event_id in events:
            await self._queue.process_inbound(event_id)
        for outbox_id in outbox:
            await self._queue.send_outbox(outbox_id)
        if events or outbox:
            self._metrics.recovered.labels("inbound").inc(len(events))
            self._metrics.recovered.labels("outbox").inc(len(outbox))
            log.info("recovery sweep re-enqueued work", inbound=len(events), outbox=len(outbox))
        return len(events), len(outbox)
