"""Memory stays flat under oversized requests, on a real `easyflow serve` in a subprocess.

Each request streams hundreds of MB (generated lazily, chunk by chunk, over a raw socket, so
the client holds 64 KiB) or declares a gigabyte. The server's peak resident memory (VmHWM)
must not grow by more than a few MB over a warmed-up baseline; unauthenticated requests get
401, authenticated oversized ones 413, and nothing is stored. Before the fix one 1 GB POST
grew the process from 154 MB to 2,045 MB. An endless header block is cut the same way (431).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import socket
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable
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
    """POST `total` bytes chunked (or only the headers, if they declare a length); the status."""
    declared = "Content-Length" in headers
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if not declared:
        lines.append("Transfer-Encoding: chunked")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    if declared:
        return _exchange(port, head, ())
    frames = itertools.repeat(FRAME, total // len(CHUNK))
    return _exchange(port, head, itertools.chain(frames, [b"0\r\n\r\n"]))


def _exchange(port: int, head: bytes, rest: Iterable[bytes]) -> int:
    """Send `head`, then `rest` chunk by chunk (made lazily); the answer's status.

    The answer is read while the rest is still being written, as a real client sees an early
    401/413: writing stops when it arrives or when the server closes the connection. Plain
    blocking sockets, the writer in a thread: a failed write must not hide a received answer.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(head)
        answered = threading.Event()

        def write_rest() -> None:
            try:
                for chunk in rest:
                    if answered.is_set():
                        return
                    sock.sendall(chunk)
            except OSError:
                pass  # the server answered early and closed

        writer = threading.Thread(target=write_rest)
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


async def test_an_endless_header_block_is_cut_at_the_limit(served: Served) -> None:
    """uvicorn's httptools parser keeps header bytes without a bound of its own: `serve`
    answers 431 once the block passes MAX_HEADER_BYTES and closes, having kept no more."""
    line = b"X-Padding: " + b"a" * 8000 + b"\r\n"
    webhook = b"POST /api/v1/messaging/webhook/telegram HTTP/1.1\r\nHost: 127.0.0.1\r\n"

    def endless(megabytes: int) -> int:
        return _exchange(served.port, webhook, itertools.repeat(line, megabytes * MB // len(line)))

    assert await asyncio.to_thread(endless, 1) == 431  # warms up the path
    baseline = served.peak_rss()
    for _ in range(4):
        assert await asyncio.to_thread(endless, 64) == 431
    growth = served.peak_rss() - baseline
    assert growth < ALLOWED_GROWTH, f"peak RSS grew by {growth / MB:.1f} MB"

    # A large header block under the limit is served as usual, on a kept-alive connection.
    padding = {f"X-Padding-{i}": "a" * 4000 for i in range(6)}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}") as client:
        for _ in range(3):
            assert (await client.get("/health", headers=padding)).status_code == 200


async def test_a_request_after_a_large_body_on_the_same_connection_is_served(
    served: Served,
) -> None:
    """Only header bytes count against the limit: a 60 KB body and the start of the next
    request's headers, read by the server together, are not a 431 for that request."""
    body = b'{"platform": "telegram", "name": "' + b"a" * 60_000 + b'"}'
    first = (
        b"POST /api/v1/integrations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + served.api_key.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )
    second = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

    def pipelined() -> bytes:
        with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
            sock.sendall(first + second[:20])  # read together: the body, a header begun
            time.sleep(0.5)
            sock.sendall(second[20:])
            received = b""
            while data := sock.recv(65536):
                received += data
            return received

    answers = await asyncio.to_thread(pipelined)
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answers)]
    assert statuses == [422, 200], answers[:300]
