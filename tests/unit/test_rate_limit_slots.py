"""A call that wakes up after its rate-limit slot books another instead of leaving late."""

from __future__ import annotations

import asyncio
import time

from easyflow.http import InMemoryRateLimiter
from easyflow.http.ratelimit import wait_for_slot


async def test_a_call_that_wakes_late_books_another_slot() -> None:
    limiter = InMemoryRateLimiter()
    buckets = {"bot": 0.1}
    await wait_for_slot(limiter, buckets)  # leaves now; the next slot is 0.1 s on
    waiting = asyncio.create_task(wait_for_slot(limiter, buckets))
    await asyncio.sleep(0)  # it booked that slot and sleeps
    time.sleep(0.25)  # noqa: ASYNC251 - the loop is busy well past the slot
    await waiting
    # Sent 0.15 s late it would have bunched with the next call; it took a fresh slot, so
    # the next call waits a whole interval after it.
    assert await limiter.reserve(buckets) > 0.05


async def test_a_call_on_time_books_one_slot() -> None:
    limiter = InMemoryRateLimiter()
    buckets = {"bot": 0.05}
    for _ in range(3):
        await wait_for_slot(limiter, buckets)
    assert 0.0 < await limiter.reserve(buckets) <= 0.05
