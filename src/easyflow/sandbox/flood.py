"""Telegram-style flood control: sliding windows per chat, per group and per bot.

Limits follow the Telegram bots FAQ
(https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this): about one
message per second to a private chat, 20 per minute to a group, 30 per second across the bot.
They are folk figures, not documented numbers, so every one is configurable (None switches it
off). The clock is injected so tests can step through time instead of sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class FloodLimits:
    per_chat_per_second: int | None = 1
    per_group_per_minute: int | None = 20
    global_per_second: int | None = 30


class SlidingWindow:
    """At most `limit` events in any `window` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until one more event fits; 0 when it fits now."""
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) < self.limit:
            return 0.0
        return self._times[len(self._times) - self.limit] + self.window - now

    def record(self, now: float) -> None:
        self._times.append(now)


class FloodControl:
    """One bot's budget. `admit(chat_id)` either counts a message or says how long to wait."""

    def __init__(self, limits: FloodLimits, clock: Callable[[], float]) -> None:
        self._limits = limits
        self._clock = clock
        self._chats: dict[int, SlidingWindow] = {}
        self._global = self._window(limits.global_per_second, 1.0)

    def admit(self, chat_id: int) -> float:
        """0 if the message may go (and it is counted), else the seconds to wait."""
        now = self._clock()
        windows = [w for w in (self._global, self._chat_window(chat_id)) if w is not None]
        wait = max((w.wait(now) for w in windows), default=0.0)
        if wait > 0:
            return wait
        for window in windows:
            window.record(now)
        return 0.0

    def _chat_window(self, chat_id: int) -> SlidingWindow | None:
        if chat_id not in self._chats:
            # Negative ids are groups and channels; positive ones are private chats.
            if chat_id < 0:
                window = self._window(self._limits.per_group_per_minute, 60.0)
            else:
                window = self._window(self._limits.per_chat_per_second, 1.0)
            if window is None:
                return None
            self._chats[chat_id] = window
        return self._chats[chat_id]

    @staticmethod
    def _window(limit: int | None, seconds: float) -> SlidingWindow | None:
        return SlidingWindow(limit, seconds) if limit else None
