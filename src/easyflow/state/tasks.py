"""Stopping background tasks that read from Redis, in bounded time.

redis-py may take a read cut short by our own cancellation for a dropped connection and retry
it, swallowing the cancellation: awaiting such a task after `cancel()` can then wait forever,
and a process that should exit (a CLI command, a worker shutting down) hangs. Listeners check
`cancelling()` before treating a connection error as Redis's fault, and owners stop them with
`cancel_and_wait`, which gives up waiting after a bound.
"""

from __future__ import annotations

import asyncio
import contextlib

STOP_TIMEOUT_SECONDS = 5.0


def cancelling() -> bool:
    """True when the running task has been asked to stop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def cancel_and_wait(task: asyncio.Task[None], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.shield(task), timeout)
