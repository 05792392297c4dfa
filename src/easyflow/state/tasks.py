"""Stopping background tasks in bounded time.

redis-py may take a read cut short by our own cancellation for a dropped connection and retry
it, swallowing the cancellation: awaiting such a task after `cancel()` can then wait forever,
and a process that should exit (a CLI command, a worker shutting down) hangs. Listeners check
`cancelling()` before treating a connection error as Redis's fault, and owners stop them with
`cancel_and_wait`, which gives up waiting after a bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

STOP_TIMEOUT_SECONDS = 5.0
RECANCEL_SECONDS = 0.5  # how long a cancellation may take before it is repeated


def cancelling() -> bool:
    """True when the running task has been asked to stop."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def cancel_and_wait(task: asyncio.Task[Any], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """Cancel `task` and wait for it to end, at most `timeout` seconds.

    A cancellation can be swallowed (redis-py's retried read; on Python 3.11 an
    `asyncio.wait_for` whose inner call finishes at the same moment), after which the task
    runs on: the cancellation is repeated until the task ends. A task still running at the
    bound is left behind rather than holding its owner's exit.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        task.cancel()
        await asyncio.wait({task}, timeout=min(RECANCEL_SECONDS, remaining))
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.result()  # retrieved, so it is not reported as never retrieved
