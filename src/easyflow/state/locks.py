"""Named locks: in-process for the embedded default, Redis for many workers.

A Redis lock has a short lease that its holder renews, so a crashed worker frees a
conversation within seconds while a slow but live holder keeps it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import structlog
from redis.exceptions import LockError, RedisError

from easyflow.state.errors import transient_redis_errors

log = structlog.get_logger("easyflow.locks")


class InMemoryLocks:
    """asyncio locks by name; a lock is dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, key: str, ttl_seconds: float) -> AsyncIterator[bool]:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        waited = lock.locked()
        async with lock:
            yield waited


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

    @asynccontextmanager
    async def hold(self, key: str, ttl_seconds: float) -> AsyncIterator[bool]:
        lease = min(self._lease, ttl_seconds)
        lock = self._redis.lock(self._prefix + key, timeout=lease, blocking_timeout=ttl_seconds)
        with transient_redis_errors("lock"):
            # One try first (the usual case: nobody holds it), so the caller learns whether
            # another holder went before it, at no extra round trip when nobody did.
            acquired = await lock.acquire(blocking=False)
            waited = not acquired
            if waited:
                acquired = await lock.acquire()
        if not acquired:
            raise TimeoutError(f"lock {key!r} not acquired within {ttl_seconds}s")
        renewal = asyncio.create_task(_renew(lock, lease / 3), name=f"renew {key}")
        try:
            yield waited
        finally:
            renewal.cancel()
            with suppress(asyncio.CancelledError):
                await renewal
            # The lock may have lapsed under us (renewal failed): nothing to release then.
            # Redis gone: the lease ends by itself.
            with suppress(LockError, RedisError):
                await lock.release()


async def _renew(lock: Any, every: float) -> None:
    """Reset the lock's expiry every `every` seconds while its holder is alive."""
    while True:
        await asyncio.sleep(every)
        try:
            await lock.reacquire()
        except (LockError, RedisError):
            log.warning("lock lost before its holder finished", lock=lock.name)
            return
