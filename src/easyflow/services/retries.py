"""When to try again after a transient failure, and when to give up: one rule for the hub.

Inbound processing and sending both use it: exponential backoff with full jitter (so many
rows failed by one outage do not all come back at the same instant), at least the wait the
platform asked for, and a bounded number of attempts after which the work is failed (inbound)
or dead (outbox) with the reason, visible in the admin API and replayable.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    base_seconds: float = 5.0
    cap_seconds: float = 3600.0
    max_attempts: int = 8

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds before the next try after the `attempt`-th failed one (1-based)."""
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        jittered = random.uniform(0, ceiling)  # noqa: S311 - jitter, not security
        return max(retry_after or 0.0, jittered)

    def next_attempt_at(self, attempt: int, retry_after: float | None = None) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.delay(attempt, retry_after))

    def exhausted(self, attempt: int) -> bool:
        """True once `attempt` failed attempts are all that is allowed."""
        return attempt >= self.max_attempts


def gave_up(attempts: int, error: str) -> str:
    """The recorded reason of work that kept failing transiently."""
    return f"gave up after {attempts} attempts: {error}"


def describe(exc: BaseException) -> str:
    """A short, log-safe reason for the record: the error's type and message."""
    message = str(exc).strip()
    name = type(exc).__name__
    return (f"{name}: {message}" if message else name)[:1000]
