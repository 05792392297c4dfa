"""One measurement each: a fresh database copy, the servers started, load, figures, teardown.

`Lab` owns the long-lived pieces of one database's bench (workdir, sandbox, private Redis,
template database, seeded bots) and runs:

* `intake(app, mode, rate)`: `easyflow serve` or the reference under wrk (closed loop) or the
  open-loop client; requests/s, p50/p99 acknowledgement, CPU per request, rows stored;
* `intake_counts(app)`: a short paced run through the counting proxy (PostgreSQL) or with the
  hub's database calls counted (SQLite): round trips, statements, transactions per request;
* `processing(rate)`: customers write through the sandbox at a fixed rate (rate 0: all at
  once) to `serve` (+ one `worker` on PostgreSQL); replies/s and webhook → reply latency by the
  sandbox's clock, CPU per message; with `count=True`, the same at a gentle rate through the
  counting proxy for round trips per processed message.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from cryptography.fernet import Fernet

from bench import loadgen
from bench.pgproxy import CountingProxy
from bench.stack import (
    BENCH,
    Database,
    Databases,
    Proc,
    Seeded,
    child_pythonpath,
    easyflow_bin,
    free_port,
    seed,
    wait_http,
    wait_tcp,
)
from easyflow.jobs.redis_broker import idle_readers

HUB_PATH = "/api/v1/messaging/webhook/telegram/{id}"
REF_PATH = "/webhook/telegram/{id}"
HUB_TABLE = "inbound_events"
REF_TABLE = "bench_reference_events"
PER_BOT_RATE = 20  # messages/s per bot: under Telegram's 30/s, so its limits never bind
WARMUP = 200


@dataclass
class LabConfig:
    kind: str  # sqlite | postgresql
    workdir: Path
    postgres: str
    max_rate: float
    connections: int = 32
    warmup: int = WARMUP
    log_level: str = "INFO"
    flood: bool = True


@dataclass
class Figures:
    """One measurement's figures (None: not measured)."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values.get(key)


class Lab:
    def __init__(self, cfg: LabConfig) -> None:
        self.cfg = cfg
        self.logs = cfg.workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.dbs = Databases(cfg.kind, cfg.workdir, cfg.postgres)
        self.hub_port, self.ref_port, self.sandbox_port = free_port(), free_port(), free_port()
        self.redis_port = free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.bots = max(1, math.ceil(cfg.max_rate / PER_BOT_RATE))
        self.env = self._env()
        self.sandbox: Proc | None = None
        self.redis: Proc | None = None
        self.seeded: Seeded | None = None
        self._ids = 10_000_000  # update_id space, never reused within a lab
        self._chats = 1_000_000_000

    @property
    def redis_url(self) -> str:
        """The private Redis (PostgreSQL runs): the hub's broker and the bench's view of it."""
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EASYFLOW_")}
        env.update(
            EASYFLOW_DATA_DIR=str(self.cfg.workdir / "data"),
            EASYFLOW_SECRET_KEYS=Fernet.generate_key().decode(),
            EASYFLOW_PUBLIC_URL=f"http://127.0.0.1:{self.hub_port}",
            EASYFLOW_SANDBOX_URL=self.sandbox_url,
            EASYFLOW_LOG_LEVEL=self.cfg.log_level,
            PYTHONPATH=child_pythonpath(),
        )
        if self.cfg.kind == "postgresql":
            env["EASYFLOW_BROKER_URL"] = self.redis_url
        return env

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        argv = [sys.executable, str(BENCH / "sandbox_server.py"), "--port", str(self.sandbox_port)]
        if not self.cfg.flood:
            argv.append("--no-flood")
        self.sandbox = Proc("sandbox", argv, self.env, self.logs)
        await self.sandbox.start()
        await wait_http(f"{self.sandbox_url}/_sandbox", self.sandbox)
        if self.cfg.kind == "postgresql":
            argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no"]  # fmt: skip
            self.redis = Proc("redis", argv, self.env, self.logs)
            await self.redis.start()
            await wait_tcp(self.redis_port, self.redis)
        template = await self.dbs.create_template()
        self.seeded = await seed(template, self.env, self.sandbox_url, self.bots)
        await self.dbs.seal_template()

    async def close(self) -> None:
        for proc in (self.sandbox, self.redis):
            if proc is not None:
                await proc.stop()
        await self.dbs.drop_all()

    # ------------------------------------------------------------------ servers

    def _hub_env(self, db: Database, db_url: str | None = None) -> dict[str, str]:
        env = dict(self.env)
        env["EASYFLOW_DATABASE_URL"] = db_url or db.url
        return env

    async def _start_hub(
        self, db: Database, *, counted: bool = False, db_url: str | None = None
    ) -> Proc:
        env = self._hub_env(db, db_url)
        cmd = ["serve", "--port", str(self.hub_port)]
        argv = self._command(cmd, counted, "hub")
        hub = Proc("hub", argv, env, self.logs)
        await hub.start()
        await wait_http(f"http://127.0.0.1:{self.hub_port}/health", hub)
        return hub

    def _command(self, cmd: list[str], counted: bool, name: str) -> list[str]:
        if counted:
            stats = self.logs / f"{name}-stats.json"
            stats.unlink(missing_ok=True)
            return [sys.executable, str(BENCH / "instrumented.py"), str(stats), *cmd]
        return [easyflow_bin(), *cmd]

    async def _start_worker(
        self, db: Database, *, counted: bool = False, db_url: str | None = None
    ) -> Proc:
        worker = Proc("worker", self._command(["worker"], counted, "worker"),
                      self._hub_env(db, db_url), self.logs)  # fmt: skip
        await worker.start()
        await self._joined_stream(worker)
        return worker

    async def _joined_stream(self, worker: Proc, timeout: float = 60.0) -> None:
        """Wait until `worker` waits on the task stream: it has no port to poll, and a fixed
        sleep let a pass begin while a slow machine was still importing the worker (its
        first second's messages then waited in Redis, and were charged to the pipeline)."""
        client = aioredis.from_url(self.redis_url)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if not worker.alive():
                    raise RuntimeError(f"worker exited:\n{worker.tail()}")
                if await idle_readers(client):
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not read the stream in {timeout:g} s")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    async def _start_reference(self, db: Database, raw_url: str | None = None) -> Proc:
        assert self.seeded is not None
        script = str(BENCH / "reference_server.py")
        url = raw_url or db.raw_url
        argv = [sys.executable, script, "--port", str(self.ref_port), "--database-url", url]
        argv += [f"--secret={self.seeded.secret}"]  # a secret may start with "-"
        ref = Proc("reference", argv, self.env, self.logs)
        await ref.start()
        await wait_http(f"http://127.0.0.1:{self.ref_port}/health", ref)
        return ref

    async def _flush_redis(self) -> None:
        if self.redis is None:
            return
        client = aioredis.from_url(self.redis_url)
        try:
            await client.flushdb()
        finally:
            await client.aclose()

    def _target(self, app: str) -> loadgen.Target:
        assert self.seeded is not None
        first = self.seeded.integration_ids[0]
        if app == "hub":
            return loadgen.Target("127.0.0.1", self.hub_port, HUB_PATH.format(id=first),
                                  self.seeded.secret)  # fmt: skip
        return loadgen.Target("127.0.0.1", self.ref_port, REF_PATH.format(id=first),
                              self.seeded.secret)  # fmt: skip

    def _updates(self, target: loadgen.Target, count: int, chats: int = 1000) -> loadgen.Updates:
        first = self._ids
        self._ids += count + 1
        return loadgen.Updates(target, first, self._take_chats(chats), chats)

    def _take_chats(self, chats: int) -> int:
        first = self._chats
        self._chats += chats
        return first

    # ------------------------------------------------------------------ intake

    async def intake(self, app: str, mode: str, rate: float, seconds: float) -> Figures:
        """One app, one load: closed loop at saturation (rate ignored) or open loop at rate."""
        db = await self.dbs.copy()
        await self._flush_redis()
        server = await (self._start_hub(db) if app == "hub" else self._start_reference(db))
        target = self._target(app)
        try:
            warmup = self.cfg.warmup
            await loadgen.warm_up(target, self._updates(target, warmup), warmup)
            await asyncio.sleep(0.5)
            cpu0, t0 = server.cpu(), time.perf_counter()
            if mode == "closed" and loadgen.wrk_path():
                first, chats = self._ids, 1000
                self._ids += 10**9
                result = await asyncio.to_thread(
                    loadgen.wrk_closed_loop, target, first, self._take_chats(chats), chats,
                    self.cfg.connections, seconds,
                )  # fmt: skip
            elif mode == "closed":
                result = await loadgen.closed_loop(
                    target, self._updates(target, 10**8), self.cfg.connections, seconds
                )
            else:
                result = await loadgen.open_loop(
                    target, self._updates(target, int(rate * seconds) + 1), rate, seconds
                )
            cpu1, t1 = server.cpu(), time.perf_counter()
            rss = server.rss()
        finally:
            await server.stop()
        stored = await self.dbs.count(db, HUB_TABLE if app == "hub" else REF_TABLE)
        await self.dbs.drop(db)
        ok = result.ok
        return Figures({
            "app": app, "mode": mode, "rate": rate if mode == "open" else None,
            "generator": result.generator, "seconds": result.seconds, "ok": ok,
            "failed": result.failed, "unanswered": result.unanswered, "rps": result.rps,
            "p50_ms": result.percentile(50),
            "p99_ms": result.percentile(99), "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0,
            "cpu_ms_per_req": (cpu1 - cpu0) * 1000 / ok if ok else None,
            "stored": stored - self.cfg.warmup, "rss_mb": rss,
        })  # fmt: skip

    async def intake_counts(self, app: str, requests: int, rate: float) -> Figures:
        """Round trips, statements and transactions per request, from a paced run."""
        db = await self.dbs.copy()
        await self._flush_redis()
        proxy = None
        if self.cfg.kind == "postgresql":
            proxy = CountingProxy("127.0.0.1", 5432)
            await proxy.start()
        url = _via(db, proxy.port) if proxy else None
        if app == "hub":
            server = await self._start_hub(db, counted=True, db_url=url)
        else:
            server = await self._start_reference(
                db, raw_url=_via_raw(db, proxy.port) if proxy else None
            )
        target = self._target(app)
        try:
            await loadgen.warm_up(target, self._updates(target, 20), 20)
            await asyncio.sleep(0.3)
            base_wire = proxy.counts.snapshot() if proxy else {}
            base_orm = self._orm_counts("hub") if app == "hub" else {}
            result = await loadgen.open_loop(
                target, self._updates(target, requests + 1), rate, requests / rate
            )
            await asyncio.sleep(1.0)  # the last answers' commits are on the wire by now
            wire = _diff(proxy.counts.snapshot(), base_wire) if proxy else {}
            orm = _diff(self._orm_counts("hub"), base_orm) if app == "hub" else {}
        finally:
            await server.stop()
            if proxy:
                await proxy.aclose()
        await self.dbs.drop(db)
        n = result.ok or 1
        values: dict[str, Any] = {"app": app, "requests": result.ok}
        if proxy:
            values.update({k + "_per": v / n for k, v in wire.items()})
        if app == "hub":
            values.update({"orm_" + k + "_per": v / n for k, v in orm.items()})
        elif self.cfg.kind == "sqlite":  # the reference's single autocommit INSERT, by design
            values.update({"orm_statements_per": 1.0, "orm_commits_per": 0.0, "orm_hops_per": 1.0})
        return Figures(values)

    def _orm_counts(self, name: str) -> dict[str, int]:
        path = self.logs / f"{name}-stats.json"
        time.sleep(0.6)  # the writer thread refreshes it twice a second
        try:
            return dict(json.loads(path.read_text()))
        except (OSError, ValueError):
            return {}

    # ------------------------------------------------------------------ processing

    async def processing(
        self,
        rate: float,
        count: int,
        drain: float,
        *,
        counted: bool = False,
        per_chat: int = 1,
        cold: bool = False,
    ) -> Figures:
        """Customers write at `rate`/s (0: all at once), `per_chat` messages in a row each;
        replies and latency at the sandbox.

        The processes first answer `WARM_UP_MESSAGES` of their own (pool connections opened,
        statements compiled, clients built: once per process), so the figures are the
        pipeline's sustained ones; `cold`: the load meets the processes as they start."""
        assert self.seeded is not None
        db = await self.dbs.copy()
        await self._flush_redis()
        proxies: list[CountingProxy] = []
        urls: list[str | None] = [None, None]
        if counted and self.cfg.kind == "postgresql":
            for i in range(2):
                proxy = CountingProxy("127.0.0.1", 5432)
                await proxy.start()
                proxies.append(proxy)
                urls[i] = _via(db, proxy.port)
        procs = [await self._start_hub(db, counted=counted, db_url=urls[0])]
        if self.cfg.kind == "postgresql":
            procs.append(await self._start_worker(db, counted=counted, db_url=urls[1]))
        chats = max(self.bots, int(rate * 2) if rate else count)
        first_chat = self._take_chats(chats)
        spec = {"tokens": self.seeded.tokens, "rate": rate, "count": count, "chats": chats,
                "first_chat": first_chat, "per_chat": per_chat}  # fmt: skip
        async with httpx.AsyncClient(base_url=self.sandbox_url, timeout=30) as client:
            try:
                await client.post("/_bench/clear")
                assert self.sandbox is not None
                if not cold:
                    await self._warm_up(client, WARM_UP_MESSAGES, drain)
                if counted:
                    # What the processes do on their own (sweeps), per second, to take off.
                    idle_seconds = count / rate if rate else 5.0
                    background = await self._idle_counts(procs, proxies, idle_seconds)
                cpu0 = [p.cpu() for p in procs] + [self.sandbox.cpu()]
                base_orm = {p.name: self._orm_counts(p.name) for p in procs} if counted else {}
                base_wire = [proxy.counts.snapshot() for proxy in proxies]
                driven = time.monotonic()
                answer = await client.post("/_bench/drive", json=spec)
                answer.raise_for_status()
                timeline = await self._await_replies(client, count, rate, drain)
                driven = time.monotonic() - driven
                cpu1 = [p.cpu() for p in procs] + [self.sandbox.cpu()]
                orm = {p.name: _diff(self._orm_counts(p.name), base_orm[p.name])
                       for p in procs} if counted else {}  # fmt: skip
                rss = {p.name: p.rss() for p in procs}
                status = (await client.get("/_bench/drive")).json()
            finally:
                for p in procs:
                    await p.stop()
                for proxy in proxies:
                    await proxy.aclose()
        await self.dbs.drop(db)
        figures = _latencies(timeline, first_chat, chats)
        replies = figures["replies"] or 0
        names = [p.name for p in procs] + ["sandbox"]
        cpu = {name: b - a for name, a, b in zip(names, cpu0, cpu1, strict=True)}
        figures.update({
            "rate": rate, "sent": count, "written": status["written"],
            "drive_lag_ms": status["max_lag"] * 1000,
            "cpu_ms_per_msg": {k: v * 1000 / replies if replies else None for k, v in cpu.items()},
            "rss_mb": rss,
        })  # fmt: skip
        if counted:
            n = replies or 1
            wire: dict[str, float] = defaultdict(float)
            by_process: dict[str, dict[str, float]] = {}
            for proc, proxy, base in zip(procs, proxies, base_wire, strict=False):
                by_process[proc.name] = _diff(proxy.counts.snapshot(), base)
                for k, v in by_process[proc.name].items():
                    wire[k] += v
            figures["wire_per_msg"] = {k: v / n for k, v in wire.items()} if proxies else None
            total_orm: dict[str, float] = defaultdict(float)
            for counts in orm.values():
                for k, v in counts.items():
                    total_orm[k] += v
            figures["orm_per_msg"] = {k: v / n for k, v in total_orm.items()}
            # The same counts less what the processes did on their own over as long a time:
            # at 10 messages/s the sweeps' statements would otherwise be charged to messages.
            figures["background_per_s"] = background
            figures["seconds_counted"] = driven
            for name, gross in (("wire", wire), ("orm", total_orm)):
                idle = background.get(name) or {}
                figures[f"{name}_per_msg_net"] = {
                    k: (v - idle.get(k, 0.0) * driven) / n for k, v in gross.items()
                }
            # Which process made them: on PostgreSQL serve takes the webhooks (intake), the
            # worker processes and sends.
            idle_by_process = background.get("wire_by_process") or {}
            figures["wire_per_msg_net_by_process"] = {
                name: {k: (v - idle_by_process[name].get(k, 0.0) * driven) / n
                       for k, v in counts.items()}
                for name, counts in by_process.items()
            }  # fmt: skip
        return Figures(figures)

    async def _warm_up(self, client: httpx.AsyncClient, count: int, drain: float) -> None:
        """`count` messages from chats of their own, answered, then the timeline cleared."""
        assert self.seeded is not None
        chats = max(self.bots, count)
        spec = {"tokens": self.seeded.tokens, "rate": 10.0, "count": count, "chats": chats,
                "first_chat": self._take_chats(chats), "per_chat": 1}  # fmt: skip
        (await client.post("/_bench/drive", json=spec)).raise_for_status()
        await self._await_replies(client, count, 10.0, drain)
        await client.post("/_bench/clear")

    async def _idle_counts(
        self, procs: list[Proc], proxies: list[CountingProxy], seconds: float
    ) -> dict[str, Any]:
        """Wire and SQLAlchemy counts per second of the started processes left alone."""
        wire0 = [proxy.counts.snapshot() for proxy in proxies]
        orm0 = {p.name: self._orm_counts(p.name) for p in procs}
        await asyncio.sleep(seconds)
        wire: dict[str, float] = defaultdict(float)
        by_process: dict[str, dict[str, float]] = {}
        for proc, proxy, base in zip(procs, proxies, wire0, strict=False):
            by_process[proc.name] = {
                k: v / seconds for k, v in _diff(proxy.counts.snapshot(), base).items()
            }
            for k, v in by_process[proc.name].items():
                wire[k] += v
        orm: dict[str, float] = defaultdict(float)
        for p in procs:
            for k, v in _diff(self._orm_counts(p.name), orm0[p.name]).items():
                orm[k] += v / seconds
        return {"wire": dict(wire) if proxies else {}, "orm": dict(orm),
                "wire_by_process": by_process}  # fmt: skip

    async def _await_replies(
        self, client: httpx.AsyncClient, count: int, rate: float, drain: float
    ) -> dict[str, Any]:
        expected = count / rate if rate else 0.0
        deadline = time.monotonic() + expected + drain
        while True:
            await asyncio.sleep(0.5)
            timeline = (await client.get("/_bench/timeline")).json()
            replies = sum(1 for r in timeline["replies"] if 200 <= r[2] < 300)
            if replies >= count or time.monotonic() > deadline:
                return dict(timeline)


# Messages processed before a counted pass (`Lab.processing(counted=True)`).
WARM_UP_MESSAGES = 20


def _latencies(timeline: dict[str, Any], first_chat: int, chats: int) -> dict[str, Any]:
    """Match each chat's k-th acknowledged webhook with its k-th reply (one reply each)."""
    hooks: dict[int, list[float]] = defaultdict(list)
    seen: set[tuple[int, int]] = set()  # update_ids are per bot: key on the chat too
    acks: list[float] = []
    for chat, update_id, left, acked, status in sorted(timeline["webhooks"], key=lambda w: w[2]):
        if first_chat <= chat < first_chat + chats and (chat, update_id) not in seen:
            seen.add((chat, update_id))
            hooks[chat].append(left)
            if 200 <= status < 300:
                acks.append(acked - left)
    acks.sort()
    replies: dict[int, list[float]] = defaultdict(list)
    for chat, at, status in sorted(timeline["replies"], key=lambda r: r[1]):
        if 200 <= status < 300 and first_chat <= chat < first_chat + chats:
            replies[chat].append(at)
    latencies = []
    for chat, times in replies.items():
        latencies += [r - h for h, r in zip(hooks[chat], times, strict=False)]
    count = len(latencies)
    # Messages still unanswered at the end wait at least since they were written: their wait
    # joins the percentiles as a lower bound, so a backlog cannot flatter the p99.
    written: dict[int, list[float]] = defaultdict(list)
    for chat, at in timeline.get("written", []):
        if first_chat <= chat < first_chat + chats:
            written[chat].append(at)
    for chat, times in written.items():
        latencies += [timeline["now"] - at for at in times[len(replies.get(chat, [])) :]]
    webhooks = sum(len(v) for v in hooks.values())
    ack = {"ack_p50_ms": _pick(acks, 0.5), "ack_p99_ms": _pick(acks, 0.99)}
    if count == 0:
        return {"webhooks": webhooks, "replies": 0, "replies_per_s": 0.0, **ack}
    first = min(min(v) for v in hooks.values() if v)
    last = max(max(v) for v in replies.values())
    latencies.sort()
    return {
        "webhooks": webhooks,
        "replies": count,
        "replies_per_s": count / (last - first) if last > first else None,
        "p50_ms": _pick(latencies, 0.5),
        "p99_ms": _pick(latencies, 0.99),
        "max_ms": latencies[-1] * 1000,
        "unanswered": len(latencies) - count,
        "failed_sends": sum(1 for r in timeline["replies"] if r[2] >= 300),
        **ack,
    }


def _pick(values: list[float], q: float) -> float | None:
    return values[int(q * (len(values) - 1))] * 1000 if values else None


def _via(db: Database, port: int) -> str:
    from sqlalchemy.engine import make_url

    return make_url(db.url).set(port=port).render_as_string(False)


def _via_raw(db: Database, port: int) -> str:
    from sqlalchemy.engine import make_url

    return make_url(db.raw_url).set(port=port).render_as_string(False)


def _diff(after: dict[str, Any], before: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) - float(before.get(k, 0)) for k, v in after.items()}
