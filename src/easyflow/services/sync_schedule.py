"""When syncs run: every active marketplace integration's streams on their schedule.

Orders every 15 minutes and products every hour by default (the adapter's declaration);
`settings.sync_every = {"orders": 300}` on an integration overrides it per stream. Time is cut
into slots of each stream's period and a scheduled run records its slot, which the database
keeps unique: two schedulers ticking at once start the run once. The same tick hands out runs
whose worker died (their lease lapsed) again, from their checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog

from easyflow.domain.errors import EasyFlowError
from easyflow.domain.sync import SyncRun
from easyflow.domain.tenancy import Capability, Integration
from easyflow.ports import Adapters, Locks, SyncQueue, SyncUnitOfWorkFactory
from easyflow.services.sync import SyncEngine

log = structlog.get_logger("easyflow.sync")

SCHEDULER_LOCK = "sync:scheduler"


def period(integration: Integration, stream: str, default: timedelta) -> float:
    """Seconds between scheduled runs of `stream` (at least a minute)."""
    overrides = integration.settings.get("sync_every") or {}
    value = overrides.get(stream) if isinstance(overrides, dict) else None
    try:
        seconds = float(value) if value is not None else default.total_seconds()
    except (TypeError, ValueError):
        seconds = default.total_seconds()
    return max(60.0, seconds)


class SyncScheduler:
    def __init__(
        self,
        uow: SyncUnitOfWorkFactory,
        engine: SyncEngine,
        queue: SyncQueue,
        locks: Locks,
        adapters: Adapters,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._adapters = adapters
        self._engine = engine
        self._queue = queue
        self._locks = locks
        self._clock = clock

    async def tick(self) -> list[SyncRun]:
        """Start every due run and re-enqueue stalled ones; the runs started."""
        now = self._clock()
        async with self._locks.hold(SCHEDULER_LOCK, 30.0):
            async with self._uow() as uow:
                active = await uow.integrations.list_all_active(
                    self._adapters.platforms_offering(Capability.MARKETPLACE)
                )
                started = await uow.sync.last_started([i.id for i in active])
                stalled = await uow.sync.stalled(now)
            runs = []
            for integration in active:
                runs += await self._due(integration, started, now)
        for run_id in stalled:
            log.info("sync run stalled: handing it out again", run=run_id)
            await self._queue.sync_step(run_id)
        return runs

    async def _due(
        self, integration: Integration, started: dict[tuple[int, str], datetime], now: datetime
    ) -> list[SyncRun]:
        runs = []
        try:
            streams = await self._engine.streams(integration.tenant_id, integration.id)
        except EasyFlowError as exc:
            log.warning("integration cannot sync", integration=integration.id, error=str(exc))
            return []
        for stream in streams:
            every = period(integration, stream.name, stream.every)
            slot_no = int(now.timestamp() // every)
            slot_start = datetime.fromtimestamp(slot_no * every, UTC)
            last = started.get((integration.id, stream.name))
            if last is not None and last >= slot_start:
                continue  # this slot ran (or a manual run did) already
            run = await self._engine.start(
                integration.tenant_id,
                integration.id,
                stream.name,
                slot=f"every-{int(every)}s:{slot_no}",
            )
            if run is not None:
                await self._queue.sync_step(run.id, run.attempts)
                runs.append(run)
        return runs

    async def run_forever(self, interval: float = 30.0) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("sync scheduler tick failed")
            await asyncio.sleep(interval)
