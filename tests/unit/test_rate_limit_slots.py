"""Rate-limit slots: one suite over the in-process limiter and the Redis one.

The Redis limiter runs on Redis's clock, so its cases use wall time with intervals long
enough (tenths of a second) that a test's own round trips cannot blur them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from easyflow.http import InMemoryRateLimiter
from easyflow.http.ratelimit import RateLimiter, wait_for_slot
from easyflow.state.ratelimit import RedisRateLimiter
from support.scratch_redis import scratch_redis

CHAT, BOT = 1.0, 0.1


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield InMemoryRateLimiter()
        return
    async with scratch_redis() as (redis, prefix):
        yield RedisRateLimiter(redis, prefix=prefix)


async def test_a_booking_takes_the_slot_every_bucket_allows(limiter: RateLimiter) -> None:
    assert await limiter.reserve({"chat": CHAT, "bot": BOT}) == 0
    assert await limiter.reserve({"chat": CHAT, "bot": BOT}) == pytest.approx(CHAT, abs=0.01)
    await limiter.pause("other", 5)
    assert await limiter.reserve({"other": BOT}) == pytest.approx(5.0, abs=0.01)


async def test_a_held_bucket_does_not_move_the_slot_but_is_kept_past_it(
    limiter: RateLimiter,
) -> None:
    assert await limiter.reserve({"bot": BOT}) == 0
    # The bot's next slot is 0.1 s away; the chat, free now, does not make it sooner or later.
    assert await limiter.reserve({"bot": BOT}, hold={"chat": CHAT}) == pytest.approx(BOT, abs=0.01)
    # The chat is held a whole interval past the slot its call leaves at.
    assert await limiter.reserve({"chat": CHAT}) == pytest.approx(BOT + CHAT, abs=0.02)
    # Holding never shortens a bucket already booked further out.
    await limiter.reserve({"bot": BOT}, hold={"chat": 0.001})
    assert await limiter.reserve({"chat": CHAT}) == pytest.approx(BOT + 2 * CHAT, abs=0.02)


async def test_one_chat_waiting_for_its_second_does_not_hold_back_the_bot(
    limiter: RateLimiter,
) -> None:
    """A chat's second message waits its second; the bot's other chats go on meanwhile.

    Booking one common slot across the chat's and the bot's buckets pushed the bot's next
    slot a second ahead, and every other chat of the bot waited behind that one chat.
    """
    await wait_for_slot(limiter, {"bot": BOT, "chat:1": CHAT})
    second = asyncio.create_task(wait_for_slot(limiter, {"bot": BOT, "chat:1": CHAT}))
    await asyncio.sleep(0.05)  # it booked its chat's next second and sleeps
    started = time.monotonic()
    for chat in range(2, 5):
        await wait_for_slot(limiter, {"bot": BOT, f"chat:{chat}": CHAT})
    assert time.monotonic() - started < 0.5  # three bot slots, not a second behind chat 1
    assert not second.done()
    assert await second >= CHAT - 0.1


async def test_a_call_that_wakes_late_books_another_slot(limiter: RateLimiter) -> None:
    buckets = {"bot": BOT}
    await wait_for_slot(limiter, buckets)  # leaves now; the next slot is 0.1 s on
    waiting = asyncio.create_task(wait_for_slot(limiter, buckets))
    await asyncio.sleep(0.01)  # it booked that slot and sleeps
    time.sleep(0.25)  # noqa: ASYNC251 - the loop is busy well past the slot
    await waiting
    # Sent 0.15 s late it would have bunched with the next call; it took a fresh slot, so
    # the next call waits most of an interval after it.
    assert await limiter.reserve(buckets) > BOT / 2


async def test_a_call_on_time_books_one_slot(limiter: RateLimiter) -> None:
    buckets = {"bot": BOT}
    for _ in range(3):
        await wait_for_slot(limiter, buckets)
    assert 0.0 < await limiter.reserve(buckets) <= BOT


async def test_a_free_chat_books_the_bot_in_the_same_step(limiter: RateLimiter) -> None:
    """The two phases in one call: a free chat books the bot too; a busy one books only itself."""
    slow_wait, fast_wait = await limiter.reserve_slow_then_fast({"chat": CHAT}, {"bot": BOT})
    assert slow_wait == 0
    assert fast_wait == 0
    # The chat waits its second; the bot is not booked by a call that must wait for its chat.
    slow_wait, fast_wait = await limiter.reserve_slow_then_fast({"chat": CHAT}, {"bot": BOT})
    assert slow_wait == pytest.approx(CHAT, abs=0.02)
    assert fast_wait is None
    assert await limiter.reserve({"bot": BOT}) == pytest.approx(BOT, abs=0.02)
    # Another chat, free: its bot slot comes after the two the bot has given out.
    slow_wait, fast_wait = await limiter.reserve_slow_then_fast({"other": CHAT}, {"bot": BOT})
    assert (slow_wait, fast_wait) == (0, pytest.approx(2 * BOT, abs=0.02))
    # The chat that booked the bot is held a whole interval past the slot it left at.
    assert await limiter.reserve({"other": CHAT}) == pytest.approx(2 * BOT + CHAT, abs=0.03)
