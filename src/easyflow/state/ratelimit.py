"""A rate limiter shared by every worker, in Redis: the same GCRA as the in-memory one.

One Lua script books a common slot across all buckets of a call atomically, so two workers
never take the same slot.
"""

from __future__ import annotations

from typing import Any

from easyflow.state.errors import transient_redis_errors

# Redis's clock, not ours: every worker must agree on "now" (and asking inside the script
# saves a round trip per call).
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: bucket names; ARGV[1..]: interval (ms) per bucket.
_RESERVE = (
    _NOW_MS
    + """
local slot = now
for i, key in ipairs(KEYS) do
  local next_free = tonumber(redis.call('GET', key) or now)
  if next_free > slot then slot = next_free end
end
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[i])
  local free = slot + interval
  redis.call('SET', key, free, 'PX', math.ceil(free - now) + 1000)
end
return slot - now
"""
)

# KEYS[1]: the bucket; ARGV[1]: the pause (ms).
_PAUSE = (
    _NOW_MS
    + """
local until_ms = now + tonumber(ARGV[1])
local next_free = tonumber(redis.call('GET', KEYS[1]) or 0)
if until_ms > next_free then
  redis.call('SET', KEYS[1], until_ms, 'PX', math.ceil(until_ms - now) + 1000)
end
return 0
"""
)


class RedisRateLimiter:
    def __init__(self, redis: Any, prefix: str = "easyflow:rl:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._pause = redis.register_script(_PAUSE)

    async def reserve(self, buckets: dict[str, float]) -> float:
        keys = [self._prefix + b for b in buckets]
        with transient_redis_errors("rate limit"):
            wait_ms = await self._reserve(keys=keys, args=[int(i * 1000) for i in buckets.values()])
        return float(wait_ms) / 1000

    async def pause(self, bucket: str, seconds: float) -> None:
        with transient_redis_errors("rate limit"):
            await self._pause(keys=[self._prefix + bucket], args=[int(seconds * 1000)])
