"""A Redis client for suites that run one case over an in-process store and Redis."""

from __future__ import annotations

import asyncio
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


@asynccontextmanager
async def silent_redis() -> AsyncIterator[int]:
    """The port of a server that accepts connections and reads commands but never answers:
    what a client sees of a Redis behind a half-open connection."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
