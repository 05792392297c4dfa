"""A Redis client for suites that run one case over an in-process store and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis

SCRATCH_REDIS_URL = "redis://127.0.0.1:6379/14"


@asynccontextmanager
async def scratch_redis() -> AsyncIterator[tuple[aioredis.Redis, str]]:
    """A client of the tests' Redis database and a key prefix no other test uses."""
    client = aioredis.from_url(SCRATCH_REDIS_URL)
    try:
        yield client, f"test:{uuid.uuid4().hex}:"
    finally:
        await client.aclose()
