"""Named locks: in-process for the embedded default, Redis for many workers.

A Redis lock has a short lease that its holder renews, so a crashed worker frees a
conversation within seconds while a slow but live holder keeps it.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any

import structlog
from redis.exceptions import LockError, RedisError

from easyflow.ports import Turn
from easyflow.state.errors import transient_redis_errors

log = structlog.get_logger("easyflow.locks")

# How long past its own deadline a lock waiter lets one Redis reply take before giving up.
_ACQUIRE_GRACE_SECONDS = 1.0


class InMemoryLocks:
    """asyncio locks by name; a lock is dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._turns: set[str] = set()
        self._knocked: set[str] = set()

    @asynccontextmanager
    async def hold(self, key: str, ttl_seconds: float) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            yield

    @asynccontextmanager
    async def turn(self, key: str, ttl_seconds: float) -> AsyncIterator[Turn]:
        # One event loop: check-and-take is atomic. Both sets hold only keys held right now.
        if key in self._turns:
            self._knocked.add(key)
            yield Turn(mine=False)
            return
        self._turns.add(key)
        turn = Turn(mine=True)
        try:
            yield turn
        finally:
            self._turns.discard(key)
            turn.again = key in self._knocked
            self._knocked.discard(key)


class RedisLocks:
    """redis-py's Lock (token-checked release) shared by every worker, kept alive by renewal.

    The lock in Redis lives only `lease_seconds` and its holder renews it every third of
    that, so a worker killed while holding a conversation frees it within `lease_seconds`
    instead of stalling that chat (and the job slots of workers waiting on it) for the whole
    `ttl_seconds` the caller allows. A waiter gives up after `ttl_seconds` with TimeoutError,
    which leaves its work to the recovery sweep.
    """

    def __init__(
        self, redis: Any, prefix: str = "easyflow:lock:", lease_seconds: float = 10.0
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._lease = lease_seconds
        self._turns = RedisTurns(redis, prefix, lease_seconds)

    def turn(self, key: str, ttl_seconds: float) -> AbstractAsyncContextManager[Turn]:
        return self._turns.turn(key, ttl_seconds)

    @asynccontextmanager
    async def hold(self, key: str, ttl_seconds: float) -> AsyncIterator[None]:
        lease = min(self._lease, ttl_seconds)
        lock = self._redis.lock(self._prefix + key, timeout=lease, blocking_timeout=ttl_seconds)
        try:
            # redis-py stops trying after `ttl_seconds`, but only between commands: a reply that
            # never comes (a half-open connection) would hold this waiter, and its job slot,
            # forever. The deadline makes the promise ours; the grace lets a reply in flight land.
            async with asyncio.timeout(ttl_seconds + _ACQUIRE_GRACE_SECONDS):
                with transient_redis_errors("lock"):
                    acquired = await lock.acquire()
        except TimeoutError:
            acquired = False
        if not acquired:
            raise TimeoutError(f"lock {key!r} not acquired within {ttl_seconds}s")
        try:
            async with _renewed(lock.reacquire, lease / 3, lock.name):
                yield
        finally:
            # The lock may have lapsed under us (renewal failed): nothing to release then.
            # Redis gone: the lease ends by itself.
            with suppress(LockError, RedisError):
                await lock.release()


# Turns (`Locks.turn`): the lock key holds the holder's token; a busy try leaves a knock key
# beside it in the same script, and the release reads (and clears) it in the same script as it
# frees the lock, so a knock is never lost between the two.
_TAKE_OR_KNOCK = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
redis.call('set', KEYS[2], '1', 'PX', ARGV[3])
return 0
"""
_RELEASE_AND_ASK = """
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
local knocked = redis.call('get', KEYS[2])
if knocked then redis.call('del', KEYS[2]) return 1 end
return 0
"""
_PROLONG = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class RedisTurns:
    """`Locks.turn` on Redis: one script to take the lock or knock, one to release and learn
    whether anybody knocked; the lease is short and renewed, as for `RedisLocks.hold`."""

    def __init__(self, redis: Any, prefix: str, lease_seconds: float) -> None:
        self._prefix = prefix
        self._lease = lease_seconds
        self._take = redis.register_script(_TAKE_OR_KNOCK)
        self._release = redis.register_script(_RELEASE_AND_ASK)
        self._prolong = redis.register_script(_PROLONG)

    @asynccontextmanager
    async def turn(self, key: str, ttl_seconds: float) -> AsyncIterator[Turn]:
        lock, knock = f"{self._prefix}turn:{key}", f"{self._prefix}knock:{key}"
        token = uuid.uuid4().hex
        lease_ms = int(min(self._lease, ttl_seconds) * 1000)
        with transient_redis_errors("lock"):
            taken = await self._take(
                keys=[lock, knock], args=[token, lease_ms, int(ttl_seconds * 1000)]
            )
        if not taken:
            yield Turn(mine=False)
            return
        turn = Turn(mine=True)

        async def prolong() -> bool:
            return bool(await self._prolong(keys=[lock], args=[token, lease_ms]))

        try:
            async with _renewed(prolong, lease_ms / 3000, lock):
                yield turn
        finally:
            try:
                turn.again = bool(await self._release(keys=[lock, knock], args=[token]))
            except RedisError:
                # The lease ends by itself; look again, in case someone knocked.
                turn.again = True


@asynccontextmanager
async def _renewed(
    prolong: Callable[[], Awaitable[object]], every: float, name: str
) -> AsyncIterator[None]:
    """Prolong a lease every `every` seconds while the block runs (its holder is alive)."""
    renewal = asyncio.create_task(_keep_prolonging(prolong, every, name), name=f"renew {name}")
    try:
        yield
    finally:
        renewal.cancel()
        with suppress(asyncio.CancelledError):
            await renewal


async def _keep_prolonging(
    prolong: Callable[[], Awaitable[object]], every: float, name: str
) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            if not await prolong():
                break  # the lease lapsed and someone else may hold it now
        except (LockError, RedisError):
            break
    log.warning("lock lost before its holder finished", lock=name)
