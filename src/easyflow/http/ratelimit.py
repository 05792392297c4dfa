"""Rate-limit budgets shared by every caller of a platform.

The limiter reserves the next free slot of a bucket (GCRA: a "theoretical arrival time" per
bucket) and sleeps until it, so calls are spaced to the platform's documented limit before
they are sent. A 429 pauses the bucket for as long as the platform asked. The in-memory
limiter serves the embedded default; a shared one (Redis) serves many workers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from typing import Protocol

# Set by a job runner around each job: entered for the length of a long rate-limit sleep, it
# lends the job's worker slot to other jobs meanwhile (jobs/queue.py `Slots`). A reply that
# waits out its chat's second must not hold one of a handful of slots: when a backlog brought
# a chat's messages within a second of each other, every slot slept on a chat and replies fell
# to about slots ÷ 1 s (the SQLite pipeline bench at 100 msg/s, same-chat replies 1.02 s apart).
WHILE_WAITING: ContextVar[Callable[[], AbstractAsyncContextManager[None]] | None] = ContextVar(
    "while_rate_limited", default=None
)
LENDS_AFTER = 0.05  # seconds: shorter waits keep the slot (taking it back costs a turn)


class RateLimiter(Protocol):
    async def reserve(
        self, buckets: dict[str, float], hold: dict[str, float] | None = None
    ) -> float:
        """Book one common slot in every bucket (name -> spacing in seconds).

        Returns the seconds until that slot. The slot is the earliest time every bucket
        allows. Each bucket in `hold` does not move the slot, but its next free slot is put
        no earlier than the booked slot plus its spacing: a call that waited for a slow bucket
        first keeps it until after it leaves.
        """
        ...

    async def reserve_slow_then_fast(
        self, slow: dict[str, float], fast: dict[str, float]
    ) -> tuple[float, float | None]:
        """`reserve(slow)`; when its slot is now, also `reserve(fast, hold=slow)` at once.

        Returns the slow buckets' wait and the fast booking's wait, or None when the slow
        buckets made the call wait (then nothing fast is booked yet). The same bookings as
        the two calls one after the other, in one step: for a shared limiter one round trip
        instead of two on the usual path (a chat that has not written in the last second).
        """
        ...

    async def pause(self, bucket: str, seconds: float) -> None:
        """No slot of `bucket` before `seconds` from now."""
        ...


class InMemoryRateLimiter:
    """One process's budgets; it lives on one event loop, so no lock is needed.

    A bucket whose next free slot has passed holds nothing a new call would not start with,
    so such buckets are dropped once there are `prune_above` of them: per-chat buckets of a
    million chats seen once must not stay in memory (the Redis limiter's keys expire alike).
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, prune_above: int = 10_000
    ) -> None:
        self._clock = clock
        self._next_free: dict[str, float] = {}
        self._prune_above = prune_above

    async def reserve(
        self, buckets: dict[str, float], hold: dict[str, float] | None = None
    ) -> float:
        now = self._clock()
        slot = max([now, *(self._next_free.get(b, now) for b in buckets)])
        for bucket, interval in buckets.items():
            self._next_free[bucket] = slot + interval
        for bucket, interval in (hold or {}).items():
            self._next_free[bucket] = max(self._next_free.get(bucket, now), slot + interval)
        if len(self._next_free) > self._prune_above:
            self._prune(now)
        return slot - now

    async def reserve_slow_then_fast(
        self, slow: dict[str, float], fast: dict[str, float]
    ) -> tuple[float, float | None]:
        slow_wait = await self.reserve(slow)
        if slow_wait > 0:
            return slow_wait, None
        return 0.0, await self.reserve(fast, hold=slow)

    def _prune(self, now: float) -> None:
        self._next_free = {b: t for b, t in self._next_free.items() if t > now}
        # Still crowded with live buckets: let the threshold follow, so pruning stays rare.
        self._prune_above = max(self._prune_above, 2 * len(self._next_free))

    def __len__(self) -> int:
        return len(self._next_free)

    async def pause(self, bucket: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._next_free[bucket] = max(self._next_free.get(bucket, 0.0), until)


# How late after its slot a call may still leave, as a fraction of the shortest interval: at
# half, a send ~17 ms late (Telegram) plus its HTTP call still let the sandbox count 31 in a
# second now and then; at a quarter, none in ten broadcasts (docs/benchmarks-broadcast.md).
LATE_FRACTION = 0.25
RESERVATIONS = 3  # slots a call books at most before it leaves however late it woke


async def wait_for_slot(limiter: RateLimiter, buckets: dict[str, float]) -> float:
    """Wait for a slot in every bucket of a call; returns the wait.

    Two phases, so one chat's budget never holds back the rest of the bot: first the slow
    buckets (a chat's one message per second), then the fastest one (the bot's thirty per
    second), booked only once the slow ones are due. Booking one common slot in all of them
    instead pushed the bot's next slot up to a second ahead whenever a chat's bucket was the
    one that bound, and every other chat of that bot waited behind it. The fast booking holds
    the slow buckets until a spacing after the call leaves, so a call that queued for the bot
    does not bunch with the next message to its chat.

    A call that wakes well after its fast slot (its event loop or CPU was busy) books another
    instead of leaving late: sent late, it lands next to the calls booked after it, and a
    platform that counts calls in a sliding window sees one more than its limit and answers
    429, which pauses the whole bucket. After a few tries it leaves anyway.
    """
    if not buckets:
        return 0.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    fastest = min(buckets, key=buckets.__getitem__)
    fast = {fastest: buckets[fastest]}
    slow = {bucket: interval for bucket, interval in buckets.items() if bucket != fastest}
    booked: float | None = None  # the fast booking's wait, when the slow phase made one
    if slow:
        slow_wait, booked = await limiter.reserve_slow_then_fast(slow, fast)
        if slow_wait > 0:
            await _sleep_lending_the_slot(slow_wait)
    tolerance = buckets[fastest] * LATE_FRACTION
    for _ in range(RESERVATIONS):
        wait = booked if booked is not None else await limiter.reserve(fast, hold=slow)
        booked = None
        slot = loop.time() + wait
        if wait > 0:
            await asyncio.sleep(wait)
        if loop.time() - slot <= tolerance:
            break
    return loop.time() - started


async def _sleep_lending_the_slot(seconds: float) -> None:
    """Sleep; a long sleep lends the caller's worker slot (`WHILE_WAITING`) meanwhile.

    Only the slow buckets' wait lends it: a call that then waits to get its slot back leaves
    late, which costs a chat's once-a-second nothing, and the bot's slot is booked after.
    """
    lend = WHILE_WAITING.get()
    if lend is None or seconds < LENDS_AFTER:
        await asyncio.sleep(seconds)
        return
    async with lend():
        await asyncio.sleep(seconds)
