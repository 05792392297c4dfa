"""Marketplace sync throughput, throttled time and memory (see docs/benchmarks-sync.md).

    .venv/bin/python -m bench.sync [--orders 100000] [--db sqlite,postgresql]
                                   [--platform ozon,wildberries] [--million]
                                   [--only throughput,throttled,memory]

The sandbox runs as `easyflow sandbox` in its own process (real HTTP on a local port), so the
hub process measured here holds only the hub. Each figure stands beside a reference measured
in the same run:

* **throughput** — a full sync of N orders (sandbox limits off) into a fresh database, in
  orders/s, beside a *raw batch upsert* of the same rows: the pages fetched first, then
  upserted page by page, one transaction each, with `SqlOrderRepository.upsert_many` alone
  (no HTTP, no checkpoint, no status diff). Goal: sync ≥ 0.6 × raw.
* **throttled** — Ozon with its real limits on (50 requests/s per Client-Id), 20k postings =
  200 pages; the run's time beside the minimum the sustained rate allows, (pages - 1) / 50 s,
  and the number of 429s the sandbox answered. Goal: ≤ 1.05 ×, no 429.
* **memory** — a fresh child process per N syncs N orders into SQLite and reports its peak
  RSS growth over the RSS before the sync (`ru_maxrss`): flat in N, ≤ 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stack import Databases, Proc, easyflow_bin, free_port, rss_mb, wait_http
from easyflow.bootstrap import Container, build_container, settle_start_up_objects
from easyflow.config import Settings
from easyflow.domain.commerce import Order
from easyflow.domain.sync import SyncType, SyncWindow
from easyflow.observability.logging import configure_logging
from easyflow.platforms.registry import PlatformRegistry, _definitions
from easyflow.sandbox.ozon.emulator import DEMO_API_KEY, DEMO_CLIENT_ID
from easyflow.sandbox.wildberries.emulator import DEMO_TOKEN
from easyflow.services.sync import SyncSettings

KEY = "k9yEXZAlaJrbRQCeRVsnZYtiiBucCTijlwe23i1yq68="
PG = os.environ.get("EASYFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CREDENTIALS = {
    "wildberries": {"token": DEMO_TOKEN},
    "ozon": {"client_id": DEMO_CLIENT_ID, "api_key": DEMO_API_KEY},
}
OZON_LIMITS = {
    "global": {"period": 1.0, "limit": 50, "burst": 50},
    "stocks": {"period": 60.0, "limit": 80, "burst": 80},
}


def _unthrottled() -> PlatformRegistry:
    """The registry with the marketplaces' limits off: the unthrottled passes measure the hub,
    not Wildberries' 1 statistics request a minute or Ozon's 50 requests a second."""
    definitions = []
    for d in _definitions():
        if d.name in CREDENTIALS:
            d = dataclasses.replace(d, spec=dataclasses.replace(d.spec, rate_limits=()))
        definitions.append(d)
    return PlatformRegistry(tuple(definitions))


async def _hub(
    db_url: str, sandbox: str, workdir: Path, *, limits: bool = False
) -> tuple[Container, int, dict[str, int]]:
    settings = Settings(
        database_url=db_url,
        secret_keys=KEY,
        data_dir=workdir,
        sandbox_url=sandbox,
        broker_url="memory://",
        log_level="WARNING",
    )
    container = build_container(settings, registry=None if limits else _unthrottled())
    container.sync.settings = SyncSettings(pages_per_step=1_000_000, step_seconds=1e9)
    await container.start()
    settle_start_up_objects()  # as `easyflow worker` and `serve` do once started
    tenant = await container.tenants.create("Bench shop")
    ids = {}
    for platform, credentials in CREDENTIALS.items():
        ids[platform] = (await container.integrations.add(tenant.id, platform, credentials)).id
    return container, tenant.id, ids


@dataclasses.dataclass(frozen=True)
class Timed:
    """A sync's wall time and the CPU the hub spent on it: all its threads (the SQLite
    driver's included) and the event loop's thread alone, which the sync is bound by. CPU
    time moves less than wall time when other jobs share the machine."""

    seconds: float
    hub_cpu_seconds: float
    loop_cpu_seconds: float


async def _full_sync(c: Container, tenant: int, integration: int) -> tuple[Timed, Any]:
    run = await c.sync.start(tenant, integration, "orders", SyncType.FULL)
    started, cpu, loop_cpu = time.perf_counter(), time.process_time(), time.thread_time()
    done = await c.sync.run_to_end(run.id)
    timed = Timed(
        time.perf_counter() - started,
        time.process_time() - cpu,
        time.thread_time() - loop_cpu,
    )
    return timed, done


async def _raw(c: Container, platform: str, integration: int) -> tuple[float, float, int]:
    """Fetch every page (timed apart), then upsert them page by page into another tenant."""
    async with c.uow() as uow:
        found = await uow.integrations.get(1, integration)
    market = c.adapters.marketplace(found)
    window, cursor, pages = SyncWindow(None, _now()), None, []
    started = time.perf_counter()
    while True:
        page = await market.read_page("orders", window, cursor)
        if page.parts is not None:  # a page parsed as it arrives: read all of it here
            async with contextlib.aclosing(page.parts) as reading:
                parts = [part async for part in reading]
            records = [r for part in parts for r in part.records]
            page = dataclasses.replace(parts[-1], records=tuple(records))
        pages.append([r for r in page.records if isinstance(r, Order)])
        if page.next is None:
            break
        cursor = page.next
    fetched = time.perf_counter() - started
    other = (await c.tenants.create("Raw reference")).id
    started = time.perf_counter()
    for rows in pages:
        async with c.uow() as uow:
            await uow.orders.upsert_many(other, rows)
            await uow.commit()
    return fetched, time.perf_counter() - started, sum(len(p) for p in pages)


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def _control(sandbox: str, method: str, path: str, body: Any = None) -> Any:
    async with httpx.AsyncClient(base_url=sandbox, timeout=60) as client:
        r = await client.request(method, path, json=body)
        r.raise_for_status()
        return r.json()


async def throughput(
    sandbox: str, kinds: list[str], platforms: list[str], n: int, workdir: Path
) -> list[dict[str, Any]]:
    results = []
    for platform in platforms:
        await _control(sandbox, "POST", "/_sandbox/reset")
        await _control(sandbox, "PUT", f"/_sandbox/{platform}/limits", {})
        await _control(
            sandbox,
            "POST",
            f"/_sandbox/{platform}/orders",
            {"count": n, "spread_seconds": 20 * 86_400},
        )
        for kind in kinds:
            dbs = Databases(kind, workdir, PG)
            db = await dbs.create_template()
            try:
                c, tenant, ids = await _hub(db.url, sandbox, workdir)
                try:
                    timed, run = await _full_sync(c, tenant, ids[platform])
                    fetched, raw, rows = await _raw(c, platform, ids[platform])
                finally:
                    await c.aclose()
            finally:
                await dbs.drop_all()
            results.append(
                {
                    "platform": platform,
                    "db": kind,
                    "orders": run.records,
                    "pages": run.pages,
                    "sync_seconds": round(timed.seconds, 2),
                    "sync_orders_per_s": round(run.records / timed.seconds),
                    "sync_hub_cpu_seconds": round(timed.hub_cpu_seconds, 2),
                    "sync_loop_cpu_seconds": round(timed.loop_cpu_seconds, 2),
                    "fetch_only_seconds": round(fetched, 2),
                    "raw_upsert_seconds": round(raw, 2),
                    "raw_upsert_orders_per_s": round(rows / raw),
                    "sync_vs_raw_upsert": round(raw / timed.seconds, 2),
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr)
    return results


async def throttled(sandbox: str, workdir: Path, n: int = 20_000) -> dict[str, Any]:
    await _control(sandbox, "POST", "/_sandbox/reset")
    await _control(sandbox, "PUT", "/_sandbox/ozon/limits", OZON_LIMITS)
    await _control(sandbox, "POST", "/_sandbox/ozon/orders", {"count": n})
    dbs = Databases("sqlite", workdir, PG)
    db = await dbs.create_template()
    try:
        c, tenant, ids = await _hub(db.url, sandbox, workdir, limits=True)
        try:
            timed, run = await _full_sync(c, tenant, ids["ozon"])
        finally:
            await c.aclose()
    finally:
        await dbs.drop_all()
    elapsed = timed.seconds
    stats = await _control(sandbox, "GET", "/_sandbox/ozon/stats")
    # The fewest requests any reader needs (full pages of 100), not the pages this run took:
    # a run read from both ends takes a page or two more where the ends meet.
    pages = -(-run.records // 100)
    minimum = (pages - 1) / 50
    return {
        "platform": "ozon",
        "orders": run.records,
        "pages": run.pages,
        "requests": stats.get("requests", 0),
        "seconds": round(elapsed, 2),
        "minimum_seconds": round(minimum, 2),
        "ratio": round(elapsed / minimum, 3),
        "rate_limited_429": stats.get("429", 0),
    }


def _high_water_mb() -> float:
    """VmHWM: this process's peak RSS. (ru_maxrss would carry the parent's over exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def _memory_probe(sandbox: str, platform: str, n: int) -> dict[str, Any]:
    """In a fresh process: seed, sync N orders into SQLite, report peak RSS growth."""
    workdir = Path(tempfile.mkdtemp(prefix="efsyncmem"))
    await _control(sandbox, "POST", "/_sandbox/reset")
    await _control(sandbox, "PUT", f"/_sandbox/{platform}/limits", {})
    await _control(
        sandbox, "POST", f"/_sandbox/{platform}/orders", {"count": n, "spread_seconds": 20 * 86_400}
    )
    dbs = Databases("sqlite", workdir, PG)
    db = await dbs.create_template()
    c, tenant, ids = await _hub(db.url, sandbox, workdir)
    try:
        before = rss_mb(os.getpid())
        timed, run = await _full_sync(c, tenant, ids[platform])
        peak = _high_water_mb()
    finally:
        await c.aclose()
        await dbs.drop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "platform": platform,
        "orders": run.records,
        "seconds": round(timed.seconds, 1),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
        "growth_mb": round(peak - before, 1),
    }


def memory(sandbox: str, platform: str, sizes: list[int]) -> list[dict[str, Any]]:
    out = []
    for n in sizes:
        child = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.sync", "--probe", platform, str(n), "--sandbox", sandbox],
            capture_output=True,
            text=True,
            check=True,
        )
        out.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(out[-1]), file=sys.stderr)
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="efsync"))
    port = free_port()
    sandbox = f"http://127.0.0.1:{port}"
    proc = Proc(
        "sandbox", [easyflow_bin(), "sandbox", "--port", str(port)], dict(os.environ), workdir
    )
    await proc.start()
    try:
        await wait_http(f"{sandbox}/_sandbox", proc)
        report: dict[str, Any] = {}
        parts = args.only.split(",")
        if "throughput" in parts:
            report["throughput"] = await throughput(
                sandbox, args.db.split(","), args.platform.split(","), args.orders, workdir
            )
        if "throttled" in parts:
            report["throttled"] = await throttled(sandbox, workdir)
            print(json.dumps(report["throttled"]), file=sys.stderr)
        if "memory" in parts:
            sizes = [args.orders] + ([1_000_000] if args.million else [])
            report["memory"] = [
                m
                for p in args.platform.split(",")
                for m in await asyncio.to_thread(memory, sandbox, p, sizes)
            ]
        return report
    finally:
        await proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--platform", default="ozon,wildberries")
    parser.add_argument("--million", action="store_true", help="also measure memory at 1M")
    parser.add_argument("--only", default="throughput,throttled,memory")
    parser.add_argument("--probe", nargs=2, metavar=("PLATFORM", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--sandbox", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_logging("WARNING", json=False)
    if args.probe:
        print(
            json.dumps(asyncio.run(_memory_probe(args.sandbox, args.probe[0], int(args.probe[1]))))
        )
        return
    report = asyncio.run(main(args))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    _cli()
