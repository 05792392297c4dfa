"""Serve any ASGI app on a real port for clients that cannot take an in-process transport.

The official `openai` SDK runs on httpx2 and python-telegram-bot opens its own connections,
so tests point them at a uvicorn server running in a background thread:

    with live_server(app) as url:            # sync tests
        ...
    async with async_live_server(app) as url:  # async tests: start/stop off the event loop
        ...

The socket is bound before the thread starts (port 0, then read back), so the URL is valid
as soon as the context is entered and no port can be stolen in between. The app runs on the
server thread's own event loop; its lifespan runs too, so shutdown hooks are honoured.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn

__all__ = ["LiveServer", "async_live_server", "live_server"]


class LiveServer:
    """A uvicorn server for `app` on 127.0.0.1, started and stopped from another thread."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 5.0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="auto", timeout_graceful_shutdown=1, access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._run, name=f"live-server-{self.port}", daemon=True
        )
        self._startup_timeout = startup_timeout
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"live server failed to start: {self._error!r}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"live server not up after {self._startup_timeout} s")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()
        if self._thread.is_alive():
            raise RuntimeError("live server did not stop within 5 s")

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # surfaced by start()
            self._error = exc


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve `app` for the duration of the block; yields its base URL."""
    server = LiveServer(app)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@asynccontextmanager
async def async_live_server(app: Any) -> AsyncIterator[str]:
    """`live_server` for async tests: waiting for start and stop happens off the loop."""
    server = LiveServer(app)
    url = await asyncio.to_thread(server.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(server.stop)
