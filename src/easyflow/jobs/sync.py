"""Sync steps as Taskiq tasks: a task carries a run id and its ticket, never data.

A step that leaves work enqueues the next one; a redelivered or duplicated task finds its
ticket used and does nothing (services/sync.py).
"""

from __future__ import annotations

from typing import Any

from easyflow.services.sync import SyncEngine
from easyflow.state.errors import transient_redis_errors

SYNC_STEP = "easyflow.sync_step"


class SyncTasks:
    """The SyncQueue port on the job broker."""

    def __init__(self, broker: Any, engine: SyncEngine) -> None:
        async def sync_step(run_id: int, ticket: int | None = None) -> None:
            result = await engine.step(run_id, ticket)
            if result.more:
                await self.sync_step(run_id, result.ticket)

        self._task = broker.register_task(sync_step, task_name=SYNC_STEP)

    async def sync_step(self, run_id: int, ticket: int | None = None) -> None:
        with transient_redis_errors("enqueue"):  # the run is committed: the scheduler finds it
            await self._task.kiq(run_id, ticket)
