"""Sliding-window limits an emulator enforces (answered in the platform's own error)."""

from __future__ import annotations

from collections import deque

from easyflow.sandbox.base import Clock


class Window:
    """At most `limit` events per `period` seconds; `allow()` records the event when it fits."""

    def __init__(self, limit: int | None, period: float, clock: Clock) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._times: deque[float] = deque()

    def allow(self) -> bool:
        if self.limit is None:
            return True
        now = self._clock()
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return False
        self._times.append(now)
        return True
