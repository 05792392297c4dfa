"""Conversation locks on Redis: a live holder keeps its lock, a dead one frees it quickly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from easyflow.state.locks import InMemoryLocks, RedisLocks
from support.scratch_redis import silent_redis

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def test_a_live_holder_keeps_its_lock_past_the_lease(redis: aioredis.Redis) -> None:
    locks = RedisLocks(redis, prefix=f"test:{uuid.uuid4().hex}:", lease_seconds=0.3)
    async with locks.hold("chat", ttl_seconds=5):
        await asyncio.sleep(1.0)  # three leases: only renewal keeps it
        with pytest.raises(TimeoutError):
            async with locks.hold("chat", ttl_seconds=0.2):
                pass
    async with locks.hold("chat", ttl_seconds=0.5):  # released on exit
        pass


@pytest.mark.timeout(30)  # without the deadline it would wait forever
async def test_a_waiter_gives_up_on_a_redis_that_never_answers() -> None:
    async with silent_redis() as port:
        client = aioredis.Redis(host="127.0.0.1", port=port)  # no socket timeout of its own
        locks = RedisLocks(client, prefix="test:", lease_seconds=0.3)
        try:
            started = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError):
                async with locks.hold("chat", ttl_seconds=0.2):
                    pass
            assert asyncio.get_running_loop().time() - started < 5
        finally:
            await client.aclose()


async def test_a_dead_holders_lock_is_free_after_one_lease(redis: aioredis.Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    # What a killed worker leaves behind: the lock key with its lease, and nobody renewing.
    await redis.set(f"{prefix}chat", "dead-worker-token", px=300)
    locks = RedisLocks(redis, prefix=prefix, lease_seconds=0.3)
    async with locks.hold("chat", ttl_seconds=3):
        assert await redis.get(f"{prefix}chat") != b"dead-worker-token"


# --------------------------------------------------------------------------- turns


async def _knock_while_held(locks: Any) -> tuple[bool, bool, bool]:
    async with locks.turn("chat", 5.0) as first, locks.turn("chat", 5.0) as second:
        pass
    async with locks.turn("chat", 5.0) as third:
        pass
    return first.mine and first.again, second.mine, third.mine and not third.again


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_a_busy_turn_is_not_waited_for_and_its_holder_hears_of_it(
    redis: aioredis.Redis, store: str
) -> None:
    locks = (
        InMemoryLocks()
        if store == "memory"
        else RedisLocks(redis, prefix=f"test:{uuid.uuid4().hex}:", lease_seconds=0.3)
    )
    held_and_told, second_got_it, free_and_quiet_after = await _knock_while_held(locks)
    assert held_and_told  # the holder learns, on leaving, that someone came by
    assert not second_got_it  # the caller came by and left: it did not wait
    assert free_and_quiet_after  # free again, and the word was taken


async def test_a_turn_outlives_its_lease_while_its_holder_lives(redis: aioredis.Redis) -> None:
    locks = RedisLocks(redis, prefix=f"test:{uuid.uuid4().hex}:", lease_seconds=0.3)
    async with locks.turn("chat", 5.0) as turn:
        await asyncio.sleep(1.0)  # three leases: only renewal keeps it
        async with locks.turn("chat", 5.0) as other:
            assert not other.mine
    assert turn.again


async def test_a_dead_holders_turn_is_free_after_its_lease(redis: aioredis.Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    await redis.set(f"{prefix}turn:chat", "dead-worker-token", px=300)
    locks = RedisLocks(redis, prefix=prefix, lease_seconds=0.3)
    async with locks.turn("chat", 5.0) as busy:
        assert not busy.mine
    await asyncio.sleep(0.4)
    async with locks.turn("chat", 5.0) as turn:
        assert turn.mine
