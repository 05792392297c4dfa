"""The Redis Streams broker, made to survive a Redis restart.

taskiq-redis creates the stream's consumer group once, at start-up. Redis here keeps nothing
on disk, so a restarted Redis has no group, and every read then fails with NOGROUP; the stock
listener lets that error escape, the worker retries it in a hot loop and takes no task again
while looking alive. This listener recreates the group and waits out a Redis that is down,
with backoff, and goes on. The group is recreated from the stream's start ("0"), not "$":
tasks kicked after the restart but before the group returned are read too; handlers are
idempotent, so a re-read costs a no-op.

Kicks are coalesced: the stock `kick` builds a Redis client per task (hundreds of dict
writes for its response callbacks) and sends one XADD per round trip. Here every kick made
while a batch is on the wire joins the next one, and each batch is one pipelined write of
XADDs on one long-lived client: at most one round trip per kick, far fewer under load. A
kick still returns only once Redis has its entry (or raises what Redis answered).

Reading, the tasks a dead consumer took and never acknowledged are claimed (XAUTOCLAIM, those
idle for `idle_timeout`) once every `CLAIM_EVERY_SECONDS`. The stock listener claims after
every read that brought tasks, in a MULTI with a lock whose release is a script (so a SCRIPT
EXISTS first): two more round trips per read under load, and none while the stream is quiet,
where a dead worker's tasks waited for the next new task. XAUTOCLAIM is atomic: two consumers
claiming at once get different tasks, so no lock is taken. Acks go through one long-lived
client, not a client built per ack.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from taskiq import AckableMessage, BrokerMessage
from taskiq_redis import RedisStreamBroker

from easyflow.state.errors import REDIS_UNAVAILABLE
from easyflow.state.tasks import cancelling

log = structlog.get_logger("easyflow.jobs")

FIRST_BACKOFF, MAX_BACKOFF = 0.1, 5.0
CLAIM_EVERY_SECONDS = 1.0  # how often a consumer claims a dead one's tasks (see above)


class ResilientRedisStreamBroker(RedisStreamBroker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kicks: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._shared_client: Redis | None = None

    def _client(self) -> Redis:
        """One client for kicks and acks (a client costs hundreds of dict writes to build)."""
        if self._shared_client is None:
            self._shared_client = Redis(connection_pool=self.connection_pool)
        return self._shared_client

    async def kick(self, message: BrokerMessage) -> None:
        queue_name = message.labels.get("queue_name") or self.queue_name
        done = asyncio.get_running_loop().create_future()
        self._kicks.append((queue_name, message.message, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_kicks(), name="redis-kicks")
        await done

    async def _flush_kicks(self) -> None:
        """Send the waiting kicks, batch after batch, until none is left."""
        batch: list[tuple[str, bytes, asyncio.Future[None]]] = []
        try:
            while self._kicks:
                batch, self._kicks = self._kicks, []
                try:
                    async with self._client().pipeline(transaction=False) as pipe:
                        for queue_name, data, _ in batch:
                            pipe.xadd(
                                queue_name,
                                {b"data": data},
                                maxlen=self.maxlen,
                                approximate=self.approximate,
                            )
                        await pipe.execute()
                except Exception as exc:
                    _settle(batch, exc)
                else:
                    _settle(batch, None)
                batch = []
        except BaseException:  # cancelled (shutting down): no kick may wait for ever
            for _, _, done in (*batch, *self._kicks):
                done.cancel()
            self._kicks = []
            raise
        finally:
            self._flusher = None

    def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:
        async def ack() -> None:
            await self._client().xack(queue_name, self.consumer_group_name, id)

        return ack

    async def _read(self) -> AsyncGenerator[AckableMessage, None]:
        """taskiq-redis's read loop, claiming a dead consumer's tasks on a clock (above)."""
        loop = asyncio.get_running_loop()
        claimed_at = -math.inf
        # redis-py types replies loosely: here, [(stream, [(entry id, {field: value})])].
        streams: dict[Any, Any] = {self.queue_name: ">", **self.additional_streams}

        def message(stream: Any, entry_id: Any, fields: Any) -> AckableMessage:
            return AckableMessage(data=fields[b"data"], ack=self._ack_generator(entry_id, stream))

        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    streams,
                    block=self.block,
                    noack=False,
                    count=self.count,
                )
                for stream, entries in fetched or ():
                    for entry_id, fields in entries:
                        yield message(stream, entry_id, fields)
                if loop.time() - claimed_at < CLAIM_EVERY_SECONDS:
                    continue
                claimed_at = loop.time()
                for stream in streams:
                    _, entries, *_ = await redis.xautoclaim(
                        stream,
                        self.consumer_group_name,
                        self.consumer_name,
                        min_idle_time=self.idle_timeout,
                        count=self.unacknowledged_batch_size,
                    )
                    for entry_id, fields in entries:
                        if fields:  # an entry trimmed from the stream meanwhile has none
                            yield message(stream, entry_id, fields)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        backoff = FIRST_BACKOFF
        while True:
            try:
                async for message in self._read():
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


async def idle_readers(redis: Redis) -> int:
    """Clients blocked reading the task stream (XREADGROUP): started workers waiting for a
    task. How a harness or a check knows a worker is ready: the consumer group cannot say,
    since Redis adds a consumer to it only once a read has returned something."""
    return sum(client.get("cmd") == "xreadgroup" for client in await redis.client_list())


def _settle(batch: list[tuple[str, bytes, asyncio.Future[None]]], error: Exception | None) -> None:
    for _, _, done in batch:
        if done.done():  # its kicker was cancelled meanwhile
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
