"""The hub's Redis clients give up on a reply that does not come in time.

Redis is made to hold its replies with `CLIENT PAUSE` (every client, for a moment): what a
connection left half-open by a failover looks like to the hub, on a connection that was
working a moment before.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from easyflow.bootstrap import build_container
from easyflow.domain.errors import TransientStorageError
from easyflow.state.locks import RedisLocks
from support.hub import hub_settings
from support.scratch_redis import SCRATCH_REDIS_URL

PAUSE_SECONDS = 4.0


@pytest.mark.timeout(30)
async def test_a_redis_that_stops_answering_fails_shared_state_as_transient(
    tmp_path: Path, encryption_key: str
) -> None:
    settings = hub_settings(
        f"sqlite:///{tmp_path / 'hub.db'}",
        tmp_path,
        encryption_key,
        broker_url=SCRATCH_REDIS_URL,
        redis_timeout_seconds=0.3,
    )
    hub = build_container(settings)
    admin = aioredis.from_url(SCRATCH_REDIS_URL)
    try:
        await hub.redis.ping()  # a connection that works
        loop = asyncio.get_running_loop()
        await admin.execute_command("CLIENT", "PAUSE", int(PAUSE_SECONDS * 1000), "ALL")
        paused = loop.time()
        with pytest.raises(RedisTimeoutError):
            await hub.redis.get("anything")
        # A conversation's turn (one script, no waiting of its own) meets it as transient.
        with pytest.raises(TransientStorageError):
            async with RedisLocks(hub.redis).turn("chat", 5.0):
                pass
        # The task queue's connections: a kick waits its timeout plus a stream read's block.
        broker: Any = hub.queue.broker  # the Redis Streams broker
        queue = Redis(connection_pool=broker.connection_pool)
        try:
            with pytest.raises(RedisTimeoutError):
                await queue.xadd("test:kicks", {b"data": b"{}"})
        finally:
            await queue.aclose()
        assert loop.time() - paused < PAUSE_SECONDS  # given up on, not waited out
    finally:
        await asyncio.sleep(PAUSE_SECONDS)  # the pause ends by itself; other tests need Redis
        await admin.aclose()
        await hub.clients.aclose()
        await hub.redis.aclose()
        await hub.engine.dispose()
