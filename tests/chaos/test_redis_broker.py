"""The Redis Streams broker keeps taking tasks after Redis restarts with its consumer group
gone, and hands a dead worker's unacknowledged tasks to a live one.

A private redis-server is killed and started again under a listening broker (Redis here keeps
nothing on disk, so the stream and its group are gone); tasks kicked afterwards must arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from taskiq import BrokerMessage

from chaos.processes import ManagedProcess, free_port, wait_tcp
from easyflow.jobs.queue import build_broker
from easyflow.state.errors import REDIS_UNAVAILABLE

pytestmark = pytest.mark.chaos


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[tuple[ManagedProcess, int]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: this test needs its own Redis")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = ManagedProcess("redis", argv, env=dict(os.environ), cwd=tmp_path, log_dir=tmp_path)
    await server.start()
    await wait_tcp(port, server)
    try:
        yield server, port
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def _listening(
    url: str, *, ack: bool = True, idle_timeout: float = 60.0
) -> AsyncIterator[asyncio.Queue[bytes]]:
    broker = build_broker(url, idle_timeout_seconds=idle_timeout)
    await broker.startup()
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def listen() -> None:
        async for message in broker.listen():  # type: ignore[attr-defined]
            await received.put(message.data)
            # As in taskiq's receiver, a failed ack ends only that message's handling, never
            # the listener: Redis killed between a delivery and its ack (the test does just
            # that) leaves the entry unacknowledged, and it is the broker that must go on.
            if ack:
                with contextlib.suppress(*REDIS_UNAVAILABLE):
                    await message.ack()

    task = asyncio.create_task(listen())
    try:
        yield received
    finally:
        task.cancel()
        # redis-py can retry a read that our cancellation cut short (it sees a closed
        # connection); closing the broker's pool ends it.
        await asyncio.wait({task}, timeout=5)
        await broker.shutdown()
        await asyncio.wait({task}, timeout=5)


async def _kick(url: str, data: bytes) -> None:
    broker = build_broker(url)
    await broker.startup()
    try:
        await broker.kick(BrokerMessage(task_id="t", task_name="n", message=data, labels={}))
    finally:
        await broker.shutdown()


async def test_tasks_arrive_after_redis_restarts(
    redis_server: tuple[ManagedProcess, int],
) -> None:
    server, port = redis_server
    url = f"redis://127.0.0.1:{port}/0"
    async with _listening(url) as received:
        await _kick(url, b"before")
        assert await asyncio.wait_for(received.get(), 10) == b"before"

        await server.kill9()
        await asyncio.sleep(0.5)  # the listener meets a dead connection
        await server.start()  # empty: no stream, no consumer group
        await wait_tcp(port, server)

        # What is asserted is that the worker takes tasks again, not that a task kicked into
        # a Redis mid-restart survives (the sweep covers those): kick until one arrives.
        for _ in range(15):
            await _kick(url, b"after")
            with contextlib.suppress(TimeoutError):
                assert await asyncio.wait_for(received.get(), 2) == b"after"
                return
        raise AssertionError("no task arrived in 30 s after Redis restarted")


async def test_a_dead_workers_task_goes_to_a_live_worker_without_a_new_task(
    redis_server: tuple[ManagedProcess, int],
) -> None:
    """A worker that took a task and died without acknowledging it: another worker gets the
    task once it has been idle for the broker's idle timeout, though nothing new is kicked
    (the stock taskiq-redis listener claimed only after a read that brought new tasks), and
    once acknowledged there it is nobody's."""
    _, port = redis_server
    url = f"redis://127.0.0.1:{port}/0"
    async with _listening(url, ack=False, idle_timeout=0.5) as dead:
        await _kick(url, b"taken, never acknowledged")
        assert await asyncio.wait_for(dead.get(), 10) == b"taken, never acknowledged"
    async with _listening(url, idle_timeout=0.5) as alive:
        # Read blocks for 2 s when the stream is quiet, then the claim is due.
        assert await asyncio.wait_for(alive.get(), 10) == b"taken, never acknowledged"
        await asyncio.sleep(0.2)  # its ack
        redis = Redis(port=port)
        try:
            pending = await redis.xpending("easyflow", "taskiq")
        finally:
            await redis.aclose()
        assert pending["pending"] == 0
        with pytest.raises(TimeoutError):  # acknowledged: not handed out again
            await asyncio.wait_for(alive.get(), 3)
