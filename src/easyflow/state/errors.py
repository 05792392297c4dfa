"""Redis failures translated once, at the boundary of shared state, into the error tree.

A Redis that is restarting or unreachable is a passing condition: work that met it is retried
(`domain.errors.is_transient`), never failed for good.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from easyflow.domain.errors import TransientStorageError

# What a Redis that is restarting or unreachable raises.
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)


@contextmanager
def transient_redis_errors(what: str) -> Iterator[None]:
    try:
        yield
    except REDIS_UNAVAILABLE as exc:
        raise TransientStorageError(f"redis unreachable ({what}): {exc}") from exc
