"""Cool-downs of failing AI providers: in-process for the embedded default, Redis for many
workers (every worker then skips a provider that keeps failing, not only the one that saw it).

A key (one tenant's provider account) cools down either at once (`cool`: the provider said
"not for a while", or the setup is wrong) or after `threshold` failures within `window`
seconds (`failed`: it keeps failing); a success clears its count of failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from easyflow.state.errors import transient_redis_errors


class InMemoryCooldowns:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._failures: dict[str, list[float]] = {}

    async def cooling(self, keys: Sequence[str]) -> set[str]:
        now = self._clock()
        return {k for k in keys if self._until.get(k, 0.0) > now}

    async def cool(self, key: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._until[key] = max(until, self._until.get(key, 0.0))

    async def failed(self, key: str, *, threshold: int, window: float, seconds: float) -> bool:
        now = self._clock()
        recent = [t for t in self._failures.get(key, []) if t > now - window] + [now]
        if len(recent) < threshold:
            self._failures[key] = recent
            return False
        self._failures.pop(key, None)
        await self.cool(key, seconds)
        return True

    async def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


# KEYS[1]: failure counter, KEYS[2]: cool-down flag; ARGV: threshold, window ms, cool-down ms.
_FAILED = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  local left = redis.call('PTTL', KEYS[2])
  if left < tonumber(ARGV[3]) then redis.call('SET', KEYS[2], '1', 'PX', ARGV[3]) end
  return 1
end
return 0
"""
# KEYS[1]: cool-down flag; ARGV[1]: cool-down ms. Never shortens a longer cool-down.
_COOL = """
local left = redis.call('PTTL', KEYS[1])
if left < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 0
"""


class RedisCooldowns:
    """The same behaviour in Redis; the failure window is the counter's expiry."""

    def __init__(self, redis: Any, prefix: str = "easyflow:cooldown:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._failed = redis.register_script(_FAILED)
        self._cool = redis.register_script(_COOL)

    async def cooling(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        with transient_redis_errors("cool-down"):
            flags = await self._redis.mget([self._flag(k) for k in keys])
        return {k for k, flag in zip(keys, flags, strict=True) if flag is not None}

    async def cool(self, key: str, seconds: float) -> None:
        with transient_redis_errors("cool-down"):
            await self._cool(keys=[self._flag(key)], args=[_ms(seconds)])

    async def failed(self, key: str, *, threshold: int, window: float, seconds: float) -> bool:
        keys = [self._prefix + "failures:" + key, self._flag(key)]
        with transient_redis_errors("cool-down"):
            cooled = await self._failed(keys=keys, args=[threshold, _ms(window), _ms(seconds)])
        return bool(cooled)

    async def succeeded(self, key: str) -> None:
        with transient_redis_errors("cool-down"):
            await self._redis.delete(self._prefix + "failures:" + key)

    def _flag(self, key: str) -> str:
        return self._prefix + "until:" + key


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
