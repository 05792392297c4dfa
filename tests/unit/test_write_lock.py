"""The SQLite write lock of one process: FIFO, urgent units first, cancellation-safe."""

from __future__ import annotations

import asyncio

from easyflow.storage.uow import WriteLock


async def _take(lock: WriteLock, name: str, order: list[str], urgent: bool = False) -> None:
    await lock.acquire(urgent)
    order.append(name)
    await asyncio.sleep(0)
    lock.release()


async def test_urgent_waiters_go_first_the_others_in_order() -> None:
    lock = WriteLock()
    order: list[str] = []
    await lock.acquire()
    tasks = [
        asyncio.create_task(_take(lock, "job-1", order)),
        asyncio.create_task(_take(lock, "job-2", order)),
        asyncio.create_task(_take(lock, "intake", order, urgent=True)),
    ]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["intake", "job-1", "job-2"]
    assert not lock.locked()


async def test_a_cancelled_waiter_neither_holds_nor_loses_the_lock() -> None:
    lock = WriteLock()
    order: list[str] = []
    await lock.acquire()
    cancelled = asyncio.create_task(_take(lock, "cancelled", order, urgent=True))
    waiting = asyncio.create_task(_take(lock, "waiting", order))
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    lock.release()
    await waiting
    assert order == ["waiting"]
    assert not lock.locked()


async def test_a_waiter_cancelled_after_its_turn_passes_the_lock_on() -> None:
    lock = WriteLock()
    order: list[str] = []
    await lock.acquire()
    handed = asyncio.create_task(_take(lock, "handed", order))
    nxt = asyncio.create_task(_take(lock, "next", order))
    await asyncio.sleep(0)
    lock.release()  # the turn is handed to the first waiter...
    handed.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(handed, return_exceptions=True)
    await nxt
    assert order == ["next"]
    assert not lock.locked()
