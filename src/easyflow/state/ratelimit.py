"""A rate limiter shared by every worker, in Redis: the same GCRA as the in-memory one.

One Lua script books a slot across the buckets of a call atomically (and holds the others,
as `easyflow.http.ratelimit.RateLimiter` describes), so two workers never take the same slot.
"""

from __future__ import annotations

import math
from typing import Any

from easyflow.state.errors import transient_redis_errors

# Redis's clock, not ours: every worker must agree on "now" (and asking inside the script
# saves a round trip per call).
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: the buckets to book, then the buckets to hold; ARGV[1]: how many to book;
# ARGV[2..]: interval (ms) per key, in the same order.
_RESERVE = (
    _NOW_MS
    + """
local booked = tonumber(ARGV[1])
local slot = now
for i = 1, booked do
  local next_free = tonumber(redis.call('GET', KEYS[i]) or now)
  if next_free > slot then slot = next_free end
end
for i, key in ipairs(KEYS) do
  local free = slot + tonumber(ARGV[i + 1])
  local current = tonumber(redis.call('GET', key) or 0)
  if i <= booked or free > current then
    redis.call('SET', key, free, 'PX', math.ceil(free - now) + 1000)
  end
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

    async def reserve(
        self, buckets: dict[str, float], hold: dict[str, float] | None = None
    ) -> float:
        every = {**buckets, **(hold or {})}
        keys = [self._prefix + b for b in every]
        # Microseconds would round less, but whole milliseconds keep Redis's TIME arithmetic
        # in integers; every interval is rounded up, so a rounded budget is never tighter.
        args = [len(buckets), *(math.ceil(i * 1000) for i in every.values())]
        with transient_redis_errors("rate limit"):
            wait_ms = await self._reserve(keys=keys, args=args)
        return float(wait_ms) / 1000

    async def pause(self, bucket: str, seconds: float) -> None:
        with transient_redis_errors("rate limit"):
            await self._pause(keys=[self._prefix + bucket], args=[int(seconds * 1000)])
