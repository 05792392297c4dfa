"""At-most-once sends: what the outbox tells the HTTP layer about the call it is making.

A request that timed out after it was written, or whose connection dropped before the answer,
may have reached the platform. Repeating it is safe only where the platform drops repeats
(an idempotency key, VK's `random_id`); elsewhere a repeat is a second copy the customer sees.
The outbox marks its send to such a platform with `send_at_most_once()`; the HTTP client then
does not repeat a request whose outcome is unknown, and raises `OutcomeUnknownError` for the
outbox to record the row as unconfirmed ("maybe sent") instead.

A context variable rather than a parameter: the adapters between the two stay unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_AT_MOST_ONCE: ContextVar[bool] = ContextVar("easyflow_send_at_most_once", default=False)


@contextmanager
def send_at_most_once(enabled: bool = True) -> Iterator[None]:
    """Within the block, a request that may have reached the platform is not repeated."""
    token = _AT_MOST_ONCE.set(enabled)
    try:
        yield
    finally:
        _AT_MOST_ONCE.reset(token)


def at_most_once() -> bool:
    return _AT_MOST_ONCE.get()
