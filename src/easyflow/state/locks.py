"""Named locks: in-process for the embedded default, Redis for many workers.

A Redis lock has a TTL so a crashed worker cannot hold a conversation forever; the holder
is expected to finish well within it (inbound processing and a send take seconds).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.exceptions import LockError


class InMemoryLocks:
    """asyncio locks by name; a lock is dropped once nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @asynccontextmanager
    async def hold(self, key: str, ttl_seconds: float) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock:
            yield


class RedisLocks:
    """redis-py's Lock (token-checked release, TTL) shared by every worker."""

    def __init__(self, redis: Any, prefix: str = "easyflow:lock:") -> None:
        self._redis = redis
        self._prefix = prefix

    @asynccontextmanager
    async def hold(self, key: str, ttl_seconds: float) -> AsyncIterator[None]:
        lock = self._redis.lock(
            self._prefix + key, timeout=ttl_seconds, blocking_timeout=ttl_seconds
        )
        acquired = await lock.acquire()
        if not acquired:
            raise TimeoutError(f"lock {key!r} not acquired within {ttl_seconds}s")
        try:
            yield
        finally:
            # The lock may have expired under us (TTL): then there is nothing to release.
            with suppress(LockError):
                await lock.release()
