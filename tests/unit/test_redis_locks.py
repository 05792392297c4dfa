"""Conversation locks on Redis: a live holder keeps its lock, a dead one frees it quickly."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from easyflow.state.locks import RedisLocks

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


async def test_a_dead_holders_lock_is_free_after_one_lease(redis: aioredis.Redis) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    # What a killed worker leaves behind: the lock key with its lease, and nobody renewing.
    await redis.set(f"{prefix}chat", "dead-worker-token", px=300)
    locks = RedisLocks(redis, prefix=prefix, lease_seconds=0.3)
    async with locks.hold("chat", ttl_seconds=3):
        assert await redis.get(f"{prefix}chat") != b"dead-worker-token"
