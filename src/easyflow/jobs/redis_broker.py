"""The Redis Streams broker, made to survive a Redis restart.

taskiq-redis creates the stream's consumer group once, at start-up. Redis here keeps nothing
on disk, so a restarted Redis has no group, and every read then fails with NOGROUP; the stock
listener lets that error escape, the worker retries it in a hot loop and takes no task again
while looking alive. This listener recreates the group and waits out a Redis that is down,
with backoff, and goes on. The group is recreated from the stream's start ("0"), not "$":
tasks kicked after the restart but before the group returned are read too; handlers are
idempotent, so a re-read costs a no-op.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage
from taskiq_redis import RedisStreamBroker

from easyflow.state.errors import REDIS_UNAVAILABLE
from easyflow.state.tasks import cancelling

log = structlog.get_logger("easyflow.jobs")

FIRST_BACKOFF, MAX_BACKOFF = 0.1, 5.0


class ResilientRedisStreamBroker(RedisStreamBroker):
    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        backoff = FIRST_BACKOFF
        while True:
            try:
                async for message in super().listen():
                    backoff = FIRST_BACKOFF
                    yield message
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("redis lost the task queue's consumer group: recreating it")
                await asyncio.sleep(backoff)
                await self._recreate_group()
            except (*REDIS_UNAVAILABLE, OSError) as exc:
                if cancelling():
                    # redis-py may report a read cut short by our own cancellation as a
                    # closed connection: the worker is stopping, not Redis failing.
                    raise asyncio.CancelledError from exc
                log.warning("redis unreachable: retrying", error=str(exc), wait=backoff)
                await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _recreate_group(self) -> None:
        async with Redis(connection_pool=self.connection_pool) as redis:
            try:
                await redis.xgroup_create(
                    self.queue_name, self.consumer_group_name, id="0", mkstream=True
                )
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):  # another worker was first: fine
                    raise
            except (*REDIS_UNAVAILABLE, OSError):
                pass  # still down: the next read fails again and we come back here
