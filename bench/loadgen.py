"""Load for the webhook benchmarks: signed Telegram updates, open loop or closed loop.

* `open_loop(...)`: the n-th request is due at start + n/rate whatever the server does; a
  request finding no idle keep-alive connection opens one, so a slow server meets a growing
  queue, as it would in production. Latency runs from the due time to the last byte of the
  answer, so a late start counts against the server (no coordinated omission). Requests still
  unanswered `GRACE` seconds after the last one was due are failed (and their wait counted).
* `closed_loop(...)`: `connections` clients each send the next request when the previous one
  is answered: throughput at saturation. `wrk` does it in C when installed (`wrk_closed_loop`),
  this module's own client otherwise (pure asyncio, so it costs the machine more CPU).

The client speaks HTTP/1.1 over asyncio streams with pre-built requests: no HTTP library
between the clock and the socket. Every update has a unique update_id; chats round-robin.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CONNECTIONS = 512
GRACE = 10.0  # seconds an open-loop run waits for late answers after its last request
WRK_INSTALL = "apt-get install -y wrk  (Debian/Ubuntu; wrk2 is not packaged)"


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    secret: str


@dataclass
class LoadResult:
    """Answers of one load run; latencies in seconds."""

    mode: str
    seconds: float
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)
    p50_ms: float | None = None  # set directly by wrk, which reports percentiles only
    p99_ms: float | None = None
    generator: str = "asyncio"
    unanswered: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: int) -> float | None:
        if q == 50 and self.p50_ms is not None:
            return self.p50_ms
        if q == 99 and self.p99_ms is not None:
            return self.p99_ms
        if len(self.latencies) < 2:
            return None
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[q - 1] * 1000


def update_body(update_id: int, chat_id: int) -> bytes:
    user = {"id": chat_id, "is_bot": False, "first_name": "Ivan", "language_code": "en"}
    message = {
        "message_id": update_id % 1_000_000,
        "date": 1_790_000_100,
        "text": "Hello!",
        "from": user,
        "chat": {"id": chat_id, "type": "private", "first_name": "Ivan"},
    }
    return json.dumps({"update_id": update_id, "message": message}).encode()


class Updates:
    """Unique update_ids from `first_id` on, over `chats` chats from `first_chat` on."""

    def __init__(self, target: Target, first_id: int, first_chat: int, chats: int) -> None:
        self._target = target
        self._next = first_id
        self._first_chat = first_chat
        self._chats = chats
        self.sent = 0

    def next_request(self) -> bytes:
        update_id = self._next
        self._next += 1
        self.sent += 1
        body = update_body(update_id, self._first_chat + update_id % self._chats)
        t = self._target
        head = (
            f"POST {t.path} HTTP/1.1\r\nHost: {t.host}:{t.port}\r\n"
            f"Content-Type: application/json\r\n{HEADER}: {t.secret}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, target: Target) -> Connection:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        return cls(reader, writer)

    async def exchange(self, request: bytes) -> int:
        """Send one request and read its whole answer; the HTTP status."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


async def open_loop(target: Target, updates: Updates, rate: float, seconds: float) -> LoadResult:
    """`rate` requests a second for `seconds`, each on an idle connection or a new one."""
    result = LoadResult("open", seconds)
    idle: list[Connection] = []
    opened = 0
    slots = asyncio.Semaphore(MAX_CONNECTIONS)
    loop = asyncio.get_running_loop()
    count = int(rate * seconds)
    started = loop.time()

    async def one(due: float, request: bytes) -> None:
        nonlocal opened
        async with slots:
            conn = idle.pop() if idle else None
            try:
                if conn is None:
                    opened += 1
                    conn = await Connection.open(target)
                status = await conn.exchange(request)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                result.failed += 1
                if conn is not None:
                    conn.close()
                return
            done = loop.time()
            idle.append(conn)
        _record(result, status, done - due)

    tasks: dict[asyncio.Task[None], float] = {}
    for n in range(count):
        due = started + n / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks[asyncio.create_task(one(due, updates.next_request()))] = due
    _, pending = await asyncio.wait(tasks, timeout=GRACE) if tasks else (set(), set())
    result.seconds = loop.time() - started
    # Unanswered after the grace period: failed, and their wait so far joins the latencies
    # (a lower bound), so a server that stalls cannot flatter its p99 by never answering.
    for task in pending:
        task.cancel()
        result.failed += 1
        result.unanswered += 1
        result.latencies.append(loop.time() - tasks[task])
    await asyncio.gather(*pending, return_exceptions=True)
    for conn in idle:
        conn.close()
    return result


async def closed_loop(
    target: Target, updates: Updates, connections: int, seconds: float
) -> LoadResult:
    """`connections` clients back to back for `seconds` (the pure-asyncio fallback of wrk)."""
    result = LoadResult("closed", seconds)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def client() -> None:
        conn = await Connection.open(target)
        try:
            while loop.time() < deadline:
                sent = loop.time()
                status = await conn.exchange(updates.next_request())
                _record(result, status, loop.time() - sent)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            result.failed += 1
        finally:
            conn.close()

    started = loop.time()
    await asyncio.gather(*(client() for _ in range(connections)))
    result.seconds = loop.time() - started
    return result


def _record(result: LoadResult, status: int, latency: float) -> None:
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if 200 <= status < 300:
        result.ok += 1
        result.latencies.append(latency)
    else:
        result.failed += 1


async def warm_up(target: Target, updates: Updates, requests: int) -> None:
    """A few requests on a few connections: imports, pools and caches are warm after it."""
    conns = [await Connection.open(target) for _ in range(4)]
    try:
        for n in range(requests):
            status = await conns[n % 4].exchange(updates.next_request())
            if status != 200:
                raise RuntimeError(f"warm-up request answered {status}")
    finally:
        for conn in conns:
            conn.close()


# --------------------------------------------------------------------------- wrk


def wrk_path() -> str | None:
    return shutil.which("wrk")


LUA = """
local first_id, first_chat, chats = {first_id}, {first_chat}, {chats}
local stride = 100000000
local counter = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function request()
  counter = counter + 1
  local uid = first_id + tid * stride + counter
  local chat = first_chat + uid % chats
  local body = string.format('{{"update_id": %d, "message": {{"message_id": %d, '
    .. '"date": 1790000100, "text": "Hello!", "from": {{"id": %d, "is_bot": false, '
    .. '"first_name": "Ivan", "language_code": "en"}}, "chat": {{"id": %d, '
    .. '"type": "private", "first_name": "Ivan"}}}}}}', uid, uid % 1000000, chat, chat)
  return wrk.format("POST", "{path}", {{["Content-Type"] = "application/json",
    ["{header}"] = "{secret}"}}, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {{"requests": %d, "duration_us": %d, "status_errors": %d, '
    .. '"socket_errors": %d, "p50_us": %d, "p99_us": %d}}\\n', summary.requests,
    summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_closed_loop(
    target: Target, first_id: int, first_chat: int, chats: int, connections: int, seconds: float
) -> LoadResult:
    """wrk with one thread and `connections` connections; it blocks (run it in a thread)."""
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError(f"wrk is not installed: {WRK_INSTALL}")
    script = LUA.format(
        first_id=first_id,
        first_chat=first_chat,
        chats=chats,
        path=target.path,
        header=HEADER,
        secret=target.secret,
    )
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "updates.lua"
        lua.write_text(script)
        url = f"http://{target.host}:{target.port}{target.path}"
        argv = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s", str(lua), url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)  # noqa: S603
    line = next((x for x in out.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout[-500:]} {out.stderr[-500:]}")
    data = json.loads(line.removeprefix("WRKJSON "))
    seconds_run = data["duration_us"] / 1e6
    failed = data["status_errors"] + data["socket_errors"]
    return LoadResult(
        "closed",
        seconds_run,
        ok=data["requests"] - data["status_errors"],
        failed=failed,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        generator="wrk",
    )


def timed(fn: Callable[[], LoadResult]) -> tuple[LoadResult, float]:
    started = time.perf_counter()
    return fn(), time.perf_counter() - started
