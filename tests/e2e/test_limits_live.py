"""Memory stays flat under oversized requests, on a real `easyflow serve` in a subprocess.

Each request streams hundreds of MB (generated lazily, chunk by chunk, over a raw socket, so
the client holds 64 KiB) or declares a gigabyte. The server's peak resident memory (VmHWM)
must not grow by more than a few MB over a warmed-up baseline; unauthenticated requests get
401, authenticated oversized ones 413, and nothing is stored. Before the fix one 1 GB POST
grew the process from 154 MB to 2,045 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from easyflow.bootstrap import build_container
from easyflow.config import Settings

MB = 1024 * 1024
CHUNK = b"x" * (64 * 1024)
FRAME = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
ALLOWED_GROWTH = 8 * MB


@dataclass
class Served:
    port: int
    pid: int
    api_key: str
    database: Path

    def peak_rss(self) -> int:
        """VmHWM: the highest resident set size the process ever had, in bytes."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmHWM in /proc status")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _prepare(data_dir: Path) -> str:
    """A migrated embedded database with one tenant and its API key (as the CLI does it)."""
    container = build_container(Settings(data_dir=data_dir))
    try:
        await container.start()
        tenant = await container.tenants.create("Live Shop")
        _, key = await container.tenants.create_api_key(tenant.id)
        return str(key)
    finally:
        await container.aclose()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    api_key = await _prepare(tmp_path)
    port = _free_port()
    env = {**os.environ, "EASYFLOW_DATA_DIR": str(tmp_path), "EASYFLOW_LOG_LEVEL": "WARNING"}
    env.pop("EASYFLOW_DATABASE_URL", None)
    easyflow = Path(sys.executable).with_name("easyflow")
    process = await asyncio.create_subprocess_exec(
        str(easyflow),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _wait_until_up(port, process)
        yield Served(port, process.pid, api_key, tmp_path / "easyflow.db")
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _wait_until_up(port: int, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError(f"easyflow serve exited with {process.returncode}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("easyflow serve did not come up")


def _send(port: int, path: str, headers: dict[str, str], total: int) -> int:
    """POST `total` bytes chunked (or only the headers, if they declare a length); the status.

    The answer is read while the body is still being written, as a real client sees an early
    401/413: writing stops when it arrives or when the server closes the connection. Plain
    blocking sockets, the writer in a thread: a failed write must not hide a received answer.
    """
    declared = "Content-Length" in headers
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if not declared:
        lines.append("Transfer-Encoding: chunked")
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answered = threading.Event()

        def write_body() -> None:
            sent = 0
            try:
                while not declared and sent < total and not answered.is_set():
                    sock.sendall(FRAME)
                    sent += len(CHUNK)
                if not declared and not answered.is_set():
                    sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the server answered early and closed

        writer = threading.Thread(target=write_body)
        writer.start()
        received = b""
        try:
            while b"\r\n" not in received:
                data = sock.recv(4096)
                if not data:
                    break
                received += data
        finally:
            answered.set()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # unblocks a write the server stopped reading
            writer.join()
    assert received.startswith(b"HTTP/1.1 "), received
    return int(received.split()[1])


async def test_memory_stays_flat_under_oversized_requests(served: Served) -> None:
    bearer = {"Authorization": f"Bearer {served.api_key}"}
    wrong = {"Authorization": "Bearer ef_deadbeef_" + "x" * 43}
    secret = {"X-Telegram-Bot-Api-Secret-Token": "guessed"}
    attacks = [
        ("/api/v1/integrations", {}, 401),  # no key
        ("/api/v1/integrations", wrong, 401),  # an unknown key
        ("/api/v1/messaging/webhook/telegram/1", secret, 401),  # no such integration
        ("/api/v1/messaging/webhook/telegram", secret, 401),  # no bot with that secret
        ("/api/v1/integrations", bearer, 413),  # authenticated: counted, cut at the limit
        ("/api/v1/integrations", {**bearer, "Content-Length": str(1024 * MB)}, 413),
        ("/api/v1/integrations", {"Content-Length": str(1024 * MB)}, 413),
    ]

    async def attack(size: int) -> None:
        for path, headers, expected in attacks:
            status = await asyncio.to_thread(_send, served.port, path, headers, size)
            assert status == expected, (path, headers)

    await attack(4 * MB)  # warms up every code path
    baseline = served.peak_rss()
    await attack(256 * MB)

    growth = served.peak_rss() - baseline
    print(f"peak RSS {baseline / MB:.1f} MB; growth after 7 x 256 MB requests {growth / MB:.2f} MB")
    assert growth < ALLOWED_GROWTH, f"peak RSS grew by {growth / MB:.1f} MB"
    with sqlite3.connect(served.database) as db:
        assert db.execute("SELECT count(*) FROM integrations").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM inbound_events").fetchone() == (0,)
