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

# `book(first, last_booked, last)`: one common slot for KEYS[first..last_booked], the
# keys after them up to KEYS[last] held (see `RateLimiter.reserve`); ARGV[i + 1] is the
# interval (ms) of KEYS[i]. Returns the wait (ms).
_BOOK = """
local function book(first, last_booked, last)
  local slot = now
  for i = first, last_booked do
    local next_free = tonumber(redis.call('GET', KEYS[i]) or now)
    if next_free > slot then slot = next_free end
  end
  for i = first, last do
    local free = slot + tonumber(ARGV[i + 1])
    local current = tonumber(redis.call('GET', KEYS[i]) or 0)
    if i <= last_booked or free > current then
      redis.call('SET', KEYS[i], free, 'PX', math.ceil(free - now) + 1000)
    end
  end
  return slot - now
end
"""

# KEYS: the buckets to book, then the buckets to hold; ARGV[1]: how many to book.
_RESERVE = _NOW_MS + _BOOK + "return book(1, tonumber(ARGV[1]), #KEYS)"

# KEYS: the fast buckets, then the slow ones; ARGV[1]: how many fast ones. The two phases of
# `reserve_slow_then_fast`: the slow buckets are booked; when their slot is now, the fast
# ones are booked too, holding the slow ones. Returns {slow wait, fast wait or -1}.
_RESERVE_SLOW_THEN_FAST = (
    _NOW_MS
    + _BOOK
    + """
local fast = tonumber(ARGV[1])
local slow_wait = book(fast + 1, #KEYS, #KEYS)
if slow_wait > 0 then return {slow_wait, -1} end
return {0, book(1, fast, #KEYS)}
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
        self._reserve_slow_then_fast = redis.register_script(_RESERVE_SLOW_THEN_FAST)
        self._pause = redis.register_script(_PAUSE)

    async def reserve(
        self, buckets: dict[str, float], hold: dict[str, float] | None = None
    ) -> float:
        every = {**buckets, **(hold or {})}
        keys = [self._prefix + b for b in every]
        args = [len(buckets), *(_ms(i) for i in every.values())]
        with transient_redis_errors("rate limit"):
            wait_ms = await self._reserve(keys=keys, args=args)
        return float(wait_ms) / 1000

    async def reserve_slow_then_fast(
        self, slow: dict[str, float], fast: dict[str, float]
    ) -> tuple[float, float | None]:
        keys = [self._prefix + b for b in (*fast, *slow)]
        args = [len(fast), *(_ms(i) for i in (*fast.values(), *slow.values()))]
        with transient_redis_errors("rate limit"):
            slow_ms, fast_ms = await self._reserve_slow_then_fast(keys=keys, args=args)
        return float(slow_ms) / 1000, None if fast_ms < 0 else float(fast_ms) / 1000

    async def pause(self, bucket: str, seconds: float) -> None:
        with transient_redis_errors("rate limit"):
            await self._pause(keys=[self._prefix + bucket], args=[int(seconds * 1000)])


def _ms(interval: float) -> int:
    # Microseconds would round less, but whole milliseconds keep Redis's TIME arithmetic in
    # integers; every interval is rounded up, so a rounded budget is never tighter.
    return math.ceil(interval * 1000)
