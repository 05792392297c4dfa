"""Webhook ingest: the hub's Telegram intake against a minimal verify-and-insert handler.

What is measured, in one process and one run (machines are noisy, so read the ratios):

* hub: `POST /api/v1/messaging/webhook/telegram/{integration_id}` of the real app
  (`create_app` over `build_container`): integration lookup and secret decryption,
  constant-time header check, parsing, `INSERT … ON CONFLICT DO NOTHING RETURNING`, commit,
  enqueue, metrics, `{"ok": true}`.
* reference: a FastAPI route on the same database, engine settings (`create_engine`) and HTTP
  stack doing only the essential work: compare the header in constant time, `json.loads` the
  body, insert the raw body into a table of its own (`ON CONFLICT DO NOTHING`), commit, answer
  `{"ok": true}`. hub/reference is what the hub's layers cost on top of that work.

Both get the same pre-serialised updates (unique update_ids over many chats) from C concurrent
clients, through `httpx.ASGITransport` or, with `--live`, a uvicorn server on a loopback port.
Scenarios: "unique" (N updates, each once) and "twice" (N/2 updates, each twice, the copy right
behind the original, so both are often in flight together: the dedup path). Each scenario runs
reference, hub, hub, reference over its two halves, so drift during the run cancels out.

Processing is kept out of the intake figures: the container's intake is rebuilt from its own
public parts (`container.uow`, `adapters`, `metrics`) with a queue that only records new event
ids, so nothing runs behind the requests. The processing figure comes from a phase of its own:
its stored events go through the queue's inbound handler from C workers (as an `easyflow
worker` runs them; `--burst` kicks them all into the in-process queue at once instead) until
the sandbox has recorded every reply. Telegram's rate limits are off on both sides for it
(client buckets and sandbox flood control), so it shows the hub's cost, not 30 messages/s.

    .venv/bin/python bench/webhook_ingest.py              # SQLite (a temp file)
    .venv/bin/python bench/webhook_ingest.py --postgres   # scratch database on 127.0.0.1:5432
    .venv/bin/python bench/webhook_ingest.py --live --json
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import hmac
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.app import create_app
from easyflow.bootstrap import Container, build_container
from easyflow.config import Settings
from easyflow.domain.ai import AiProfile
from easyflow.observability.logging import configure_logging
from easyflow.platforms.registry import PlatformRegistry
from easyflow.sandbox.flood import FloodLimits
from easyflow.sandbox.server import Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.telegram_state import TelegramConfig
from easyflow.storage import create_engine, generate_key, upgrade
from easyflow.webhooks.intake import WebhookIntake

HEADER = "X-Telegram-Bot-Api-Secret-Token"
HUB_URL = "http://testserver"
SANDBOX_URL = "http://sandbox"
POSTGRES_SERVER = os.environ.get(
    "EASYFLOW_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REFERENCE_TABLE = "bench_reference_events"
REFERENCE_PATH = "/reference/webhook/telegram/{integration_id}"
APPS = ("reference", "hub")
WARMUP = 200
# Each phase has its own update_id and chat ranges: a worker takes every pending event of a
# chat, so processing one phase's events never touches another phase's.
PHASES = {"warmup": 0, "unique": 1, "twice": 2, "process": 3}
PHASE_STRIDE = 10_000_000


# --------------------------------------------------------------------------- figures


@dataclass(frozen=True)
class Run:
    """One app through one scenario: wall seconds and per-request latencies (seconds)."""

    scenario: str
    app: str
    requests: int
    seconds: float
    latencies: Sequence[float] = field(repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def ms(self, q: int) -> float:
        """The q-th percentile latency in milliseconds."""
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return cuts[q - 1] * 1000

    def __add__(self, other: Run) -> Run:
        return Run(
            self.scenario,
            self.app,
            self.requests + other.requests,
            self.seconds + other.seconds,
            [*self.latencies, *other.latencies],
        )

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "rps": round(self.rps, 1),
            "p50_ms": round(self.ms(50), 2),
            "p99_ms": round(self.ms(99), 2),
        }


@dataclass(frozen=True)
class Processing:
    events: int
    replies: int
    seconds: float
    mode: str

    @property
    def rate(self) -> float:
        """Replies recorded by the sandbox per second."""
        return self.replies / self.seconds


@dataclass
class Results:
    runs: dict[tuple[str, str], Run] = field(default_factory=dict)
    processing: Processing | None = None


# --------------------------------------------------------------------------- load


def chat_ids(phase: str, chats: int) -> list[int]:
    return [PHASES[phase] * PHASE_STRIDE + 7_000_000 + i for i in range(chats)]


def update_bodies(phase: str, count: int, chats: int) -> list[bytes]:
    """`count` message updates with unique update_ids, round-robin over the phase's chats."""
    first_id = PHASES[phase] * PHASE_STRIDE + 1
    ids = chat_ids(phase, chats)
    return [_update(first_id + i, ids[i % len(ids)]) for i in range(count)]


def _update(update_id: int, chat_id: int) -> bytes:
    user = {"id": chat_id, "is_bot": False, "first_name": "Ivan", "language_code": "en"}
    message = {
        "message_id": update_id % 1_000_000,
        "date": 1_790_000_100,
        "text": "Hello!",
        "from": user,
        "chat": {"id": chat_id, "type": "private", "first_name": "Ivan"},
    }
    return json.dumps({"update_id": update_id, "message": message}).encode()


def twice(bodies: Sequence[bytes]) -> list[bytes]:
    """Every update twice, the redelivery right behind the original."""
    return [body for body in bodies for _ in range(2)]


async def drive(
    client: httpx.AsyncClient, path: str, secret: str, bodies: Sequence[bytes], concurrency: int
) -> tuple[float, list[float]]:
    """POST every body with `concurrency` requests in flight; (wall seconds, latencies)."""
    headers = {HEADER: secret, "Content-Type": "application/json"}
    pending = iter(bodies)
    latencies: list[float] = []

    async def client_loop() -> None:
        for body in pending:
            started = time.perf_counter()
            response = await client.post(path, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or response.json() != {"ok": True}:
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")

    gc.collect()
    started = time.perf_counter()
    await _concurrently(client_loop, concurrency)
    return time.perf_counter() - started, latencies


async def _concurrently(loop: Callable[[], Coroutine[Any, Any, None]], copies: int) -> None:
    async with asyncio.TaskGroup() as group:
        for _ in range(copies):
            group.create_task(loop())


# --------------------------------------------------------------------------- databases


@asynccontextmanager
async def scratch_database(postgres: bool, tmp: Path) -> AsyncIterator[str]:
    """A migrated, empty database: a temp SQLite file, or a PostgreSQL database dropped after."""
    if not postgres:
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        await upgrade(url)
        yield url
        return
    name = f"easyflow_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_url(POSTGRES_SERVER).set(drivername="postgresql")
    dsn = admin.render_as_string(hide_password=False)
    await _admin(dsn, f'CREATE DATABASE "{name}"')
    database = admin.set(drivername="postgresql+asyncpg", database=name)
    try:
        await upgrade(database.render_as_string(hide_password=False))
        yield database.render_as_string(hide_password=False)
    finally:
        await _admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def count_phase_rows(engine: AsyncEngine, table: str, column: str, phase: str) -> int:
    """Rows of one phase: its update_ids lie in [phase * stride, (phase + 1) * stride)."""
    low = PHASES[phase] * PHASE_STRIDE
    query = text(
        f"SELECT count(*) FROM {table} "  # noqa: S608 - our own constants
        f"WHERE CAST({column} AS BIGINT) >= :low AND CAST({column} AS BIGINT) < :high"
    )
    async with engine.connect() as conn:
        result = await conn.execute(query, {"low": low, "high": low + PHASE_STRIDE})
        return int(result.scalar_one())


# --------------------------------------------------------------------------- reference


async def create_reference_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(f"CREATE TABLE {REFERENCE_TABLE} (update_id BIGINT PRIMARY KEY, body TEXT)")
        )


def reference_app(engine: AsyncEngine, secret: str) -> FastAPI:
    """Only the essential work of a webhook intake, on the hub's own HTTP stack and engine."""
    app = FastAPI()
    expected = secret.encode()
    insert = text(
        f"INSERT INTO {REFERENCE_TABLE} (update_id, body) VALUES (:update_id, :body) "  # noqa: S608
        "ON CONFLICT DO NOTHING"
    )

    @app.post(REFERENCE_PATH)
    async def receive(integration_id: int, request: Request) -> JSONResponse:
        presented = (request.headers.get(HEADER) or "").encode()
        if not hmac.compare_digest(presented, expected):
            return JSONResponse({"detail": "unauthorized"}, status_code=401)
        body = await request.body()
        update = json.loads(body)
        async with engine.begin() as conn:
            await conn.execute(insert, {"update_id": update["update_id"], "body": body.decode()})
        return JSONResponse({"ok": True})

    return app


# --------------------------------------------------------------------------- hub


class RecordingQueue:
    """The TaskQueue port for the intake figures: records new event ids, runs nothing."""

    def __init__(self) -> None:
        self.inbound: list[int] = []

    async def process_inbound(self, event_id: int) -> None:
        self.inbound.append(event_id)

    async def send_outbox(self, outbox_id: int) -> None:
        raise AssertionError("the intake never sends")

    def take(self) -> list[int]:
        taken, self.inbound = self.inbound, []
        return taken


@dataclass
class BenchHub:
    app: FastAPI
    container: Container
    sandbox: Sandbox
    token: str
    integration_id: int
    secret: str
    recorded: RecordingQueue

    @property
    def path(self) -> str:
        return f"/api/v1/messaging/webhook/telegram/{self.integration_id}"


def unthrottled_registry() -> PlatformRegistry:
    """The real platform definitions, Telegram's client-side rate limits removed."""
    base = PlatformRegistry()
    definitions = []
    for name in base.names():
        definition = base.get(name)
        if name == "telegram":
            spec = dataclasses.replace(definition.spec, rate_limits=())
            definition = dataclasses.replace(definition, spec=spec)
        definitions.append(definition)
    return PlatformRegistry(tuple(definitions))


def _sink(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"ok": True})


def hub_settings(url: str, tmp: Path, key: str) -> Settings:
    return Settings(
        database_url=url,
        secret_keys=key,
        data_dir=tmp,
        broker_url="memory://",
        public_url=HUB_URL,
        sandbox_url=SANDBOX_URL,
        recovery_interval_seconds=3600,
    )


@asynccontextmanager
async def running_hub(url: str, tmp: Path, key: str) -> AsyncIterator[BenchHub]:
    """The real app over the real container, the Telegram sandbox behind its adapters."""
    sandbox = create_sandbox_app(
        SandboxConfig(telegram=TelegramConfig(flood=FloodLimits(None, None, None))),
        webhook_transport=httpx.MockTransport(_sink),  # the bench posts the updates itself
    )
    transport = httpx.ASGITransport(sandbox.app)
    settings = hub_settings(url, tmp, key)
    container = build_container(
        settings,
        transports={"telegram": transport, "openai": transport},
        registry=unthrottled_registry(),
    )
    recorded = RecordingQueue()
    container.intake = WebhookIntake(container.uow, container.adapters, recorded, container.metrics)
    app = create_app(settings, container)
    async with app.router.lifespan_context(app):
        tenant = await container.tenants.create("Bench Shop", AiProfile())
        bot = sandbox.telegram.register_bot(username="bench_shop_bot")
        integration = await container.integrations.add(
            tenant.id, "telegram", {"token": bot["token"]}
        )
        async with container.uow() as uow:
            secret = (await uow.integrations.get(tenant.id, integration.id)).webhook_secrets[0]
        try:
            yield BenchHub(app, container, sandbox, bot["token"], integration.id, secret, recorded)
        finally:
            await sandbox.aclose()


async def open_chats(hub: BenchHub, ids: Sequence[int]) -> None:
    """Each chat writes to the bot once in the sandbox, so that the bot may answer there."""
    for chat_id in ids:
        await hub.sandbox.telegram.customer_writes(hub.token, chat_id, "/start")
    await hub.sandbox.wait_idle(timeout=60)


async def measure_processing(
    hub: BenchHub, event_ids: Sequence[int], concurrency: int, burst: bool
) -> Processing:
    """Stored events → replies recorded by the sandbox; the sends go through the real queue."""
    already = len(hub.sandbox.telegram.sent(hub.token))
    gc.collect()
    started = time.perf_counter()
    if burst:
        for event_id in event_ids:
            await hub.container.queue.process_inbound(event_id)
    else:
        await _concurrently(_worker_loop(hub.container, iter(event_ids)), concurrency)
    await hub.container.queue.wait_idle()
    seconds = time.perf_counter() - started
    replies = len(hub.sandbox.telegram.sent(hub.token)) - already
    mode = "burst" if burst else f"{concurrency} workers"
    return Processing(len(event_ids), replies, seconds, mode)


def _worker_loop(
    container: Container, pending: Iterator[int]
) -> Callable[[], Coroutine[Any, Any, None]]:
    """What a worker does: run the inbound handler; a failure is logged, not fatal."""

    async def loop() -> None:
        for event_id in pending:
            try:
                await container.handle_inbound(event_id)
            except Exception as exc:  # the sweep would retry it; the bench counts it missing
                print(f"inbound event {event_id} failed: {exc!r}"[:300], file=sys.stderr)

    return loop


# --------------------------------------------------------------------------- serving


@asynccontextmanager
async def client_for(
    app: FastAPI, live: bool, concurrency: int
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on `app`: in-process ASGI, or a uvicorn server on a loopback port.

    The live server runs on this event loop (the app's engine and pools belong to it), so
    client and server share one core, as they do in-process.
    """
    if not live:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=HUB_URL) as client:
            yield client
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):  # uvicorn only exposes a flag; give it 5 s
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with httpx.AsyncClient(base_url=base_url, limits=limits) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        sock.close()


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class Options:
    requests: int
    concurrency: int
    chats: int
    process_events: int
    postgres: bool
    live: bool
    burst: bool
    as_json: bool


Clients = dict[str, tuple[httpx.AsyncClient, str, str]]


async def run_scenario(
    scenario: str, bodies: Sequence[bytes], clients: Clients, concurrency: int
) -> dict[tuple[str, str], Run]:
    """The same bodies through both apps, in the order reference, hub, hub, reference."""
    cut = len(bodies) // 4 * 2  # even, so a "twice" pair stays in one half
    halves = (bodies[:cut], bodies[cut:])
    order = [(APPS[0], halves[0]), (APPS[1], halves[0]), (APPS[1], halves[1])]
    order.append((APPS[0], halves[1]))
    runs: dict[tuple[str, str], Run] = {}
    for app, half in order:
        client, path, secret = clients[app]
        seconds, latencies = await drive(client, path, secret, half, concurrency)
        run = Run(scenario, app, len(half), seconds, latencies)
        key = (scenario, app)
        runs[key] = runs[key] + run if key in runs else run
    return runs


@dataclass
class Setup:
    hub: BenchHub
    clients: Clients
    ref_engine: AsyncEngine


@asynccontextmanager
async def apps_under_test(options: Options, tmp: Path) -> AsyncIterator[Setup]:
    """The hub and the reference on one scratch database, each behind its own client."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(scratch_database(options.postgres, tmp))
        hub = await stack.enter_async_context(running_hub(url, tmp, generate_key()))
        ref_engine = create_engine(url)
        stack.push_async_callback(ref_engine.dispose)
        await create_reference_table(ref_engine)
        ref_path = REFERENCE_PATH.format(integration_id=hub.integration_id)
        clients: Clients = {}
        for name, app, path in (
            ("hub", hub.app, hub.path),
            ("reference", reference_app(ref_engine, hub.secret), ref_path),
        ):
            client = await stack.enter_async_context(
                client_for(app, options.live, options.concurrency)
            )
            clients[name] = (client, path, hub.secret)
        yield Setup(hub, clients, ref_engine)


async def intake_phases(options: Options, setup: Setup) -> dict[tuple[str, str], Run]:
    n, c, chats = options.requests, options.concurrency, options.chats
    hub, clients = setup.hub, setup.clients
    await run_scenario("warmup", update_bodies("warmup", WARMUP, chats), clients, c)
    hub.recorded.take()
    runs = await run_scenario("unique", update_bodies("unique", n, chats), clients, c)
    await check_stored(setup, "unique", n, len(hub.recorded.take()))
    doubled = twice(update_bodies("twice", n // 2, chats))
    runs |= await run_scenario("twice", doubled, clients, c)
    await check_stored(setup, "twice", n // 2, len(hub.recorded.take()))
    return runs


async def check_stored(setup: Setup, phase: str, new: int, enqueued: int) -> None:
    """Dedup did its job: one row per update in both tables, each new event enqueued once."""
    counts = (
        await count_phase_rows(setup.ref_engine, REFERENCE_TABLE, "update_id", phase),
        await count_phase_rows(setup.hub.container.engine, "inbound_events", "event_id", phase),
        enqueued,
    )
    if counts != (new, new, new):
        raise RuntimeError(f"{phase}: reference rows, hub rows, enqueued = {counts}, not {new}")


async def processing_phase(
    options: Options, hub: BenchHub, client: httpx.AsyncClient
) -> Processing:
    """Store the phase's updates through the hub (not timed), then time their processing."""
    events = options.process_events
    chats = chat_ids("process", max(1, events * options.chats // options.requests))
    await open_chats(hub, chats)
    bodies = update_bodies("process", events, len(chats))
    await drive(client, hub.path, hub.secret, bodies, options.concurrency)
    stored = hub.recorded.take()
    return await measure_processing(hub, stored, options.concurrency, options.burst)


async def bench(options: Options, tmp: Path) -> Results:
    async with apps_under_test(options, tmp) as setup:
        results = Results(runs=await intake_phases(options, setup))
        if options.process_events:
            hub_client = setup.clients["hub"][0]
            results.processing = await processing_phase(options, setup.hub, hub_client)
        return results


# --------------------------------------------------------------------------- report


def _ratio(hub: float, ref: float) -> str:
    return f"{hub / ref:.2f}" if ref else "-"


def _title(options: Options) -> str:
    database = "PostgreSQL" if options.postgres else "SQLite"
    transport = "uvicorn on loopback" if options.live else "in-process ASGI"
    return (
        f"webhook ingest · {database} · {transport}\nN={options.requests} C={options.concurrency}"
        f" · {options.chats} chats · {os.cpu_count()} CPUs"
    )


def print_table(options: Options, results: Results) -> None:
    table = Table(title=_title(options))
    for column in ("scenario", "figure", "hub", "reference", "hub/ref"):
        table.add_column(column, justify="left" if column in ("scenario", "figure") else "right")
    for scenario in ("unique", "twice"):
        hub, ref = results.runs[(scenario, "hub")], results.runs[(scenario, "reference")]
        for figure, h, r, fmt in (
            ("requests/s", hub.rps, ref.rps, "{:.0f}"),
            ("p50 ms", hub.ms(50), ref.ms(50), "{:.2f}"),
            ("p99 ms", hub.ms(99), ref.ms(99), "{:.2f}"),
        ):
            table.add_row(scenario, figure, fmt.format(h), fmt.format(r), _ratio(h, r))
        table.add_section()
    if results.processing:
        p = results.processing
        table.add_row("processing", "replies/s", f"{p.rate:.0f}", "", "")
        table.caption = (
            f"processing: {p.events} stored events → replies recorded by the sandbox, "
            f"{p.mode}, no rate limits"
        )
        if p.replies != p.events:
            table.add_row("processing", "[red]replies missing[/red]", str(p.events - p.replies))
    Console().print(table)


def as_json(options: Options, results: Results) -> dict[str, Any]:
    runs = [{"scenario": s, "app": a, **run.summary()} for (s, a), run in results.runs.items()]
    ratios = {}
    for scenario in ("unique", "twice"):
        hub, ref = results.runs[(scenario, "hub")], results.runs[(scenario, "reference")]
        ratios[scenario] = {
            "rps": round(hub.rps / ref.rps, 3),
            "p50": round(hub.ms(50) / ref.ms(50), 3),
            "p99": round(hub.ms(99) / ref.ms(99), 3),
        }
    p = results.processing
    return {
        "benchmark": "webhook_ingest",
        "database": "postgresql" if options.postgres else "sqlite",
        "transport": "live" if options.live else "asgi",
        "requests": options.requests,
        "concurrency": options.concurrency,
        "chats": options.chats,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "runs": runs,
        "hub_over_reference": ratios,
        "processing": None
        if p is None
        else {
            **dataclasses.asdict(p),
            "seconds": round(p.seconds, 3),
            "replies_per_s": round(p.rate, 1),
        },
    }


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    add = parser.add_argument
    add("-n", "--requests", type=int, default=2000, help="requests per scenario (default 2000)")
    add("-c", "--concurrency", type=int, default=16, help="requests in flight (default 16)")
    add("--chats", type=int, default=250, help="chats the updates spread over (default 250)")
    add("--process-events", type=int, default=400, help="events to process; 0 skips it")
    add("--postgres", action="store_true", help="PostgreSQL (127.0.0.1:5432) instead of SQLite")
    add("--live", action="store_true", help="serve both apps with uvicorn on loopback ports")
    add("--burst", action="store_true", help="processing: kick every event into the queue at once")
    add("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.requests < 8 or args.concurrency < 1 or args.chats < 1:
        parser.error("need --requests >= 8, --concurrency >= 1 and --chats >= 1")
    return Options(
        requests=args.requests,
        concurrency=args.concurrency,
        chats=args.chats,
        process_events=args.process_events,
        postgres=args.postgres,
        live=args.live,
        burst=args.burst,
        as_json=args.json,
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_args(argv)
    configure_logging(level="WARNING")  # the hub logs to stderr; keep stdout for the figures
    with tempfile.TemporaryDirectory(prefix="easyflow-bench-") as tmp:
        results = asyncio.run(bench(options, Path(tmp)))
    if options.as_json:
        print(json.dumps(as_json(options, results), indent=2))
    else:
        print_table(options, results)


if __name__ == "__main__":
    main()
