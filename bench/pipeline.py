"""The message pipeline measured from outside: `easyflow serve` against a reference handler.

    bench/run                      # both databases, ~20 min; prints the tables
    bench/run --quick              # one short pass of everything: a smoke test
    bench/run --write-docs         # ... and regenerate docs/benchmarks.md from the figures
    bench/run --db sqlite --json results.json

Per database (a fresh copy of one migrated, seeded template for every measurement):

* **intake**: `easyflow serve` and `bench/reference_server.py` (secret check + one raw INSERT),
  the same uvicorn settings, the same load: wrk at saturation (closed loop, `--connections`)
  and the open-loop client at fixed rates; requests/s, p50/p99 acknowledgement, CPU per
  request from /proc, then a paced counting pass for round trips, statements, transactions;
* **processing**: customers write to the bots through the sandbox at fixed rates, in one
  burst, and at one rate with every chat writing twice in a row, each into processes warmed
  by 20 messages of their own; then once at the goal rate into processes that answered
  nothing yet (a cold start); `serve` (embedded default on SQLite; on PostgreSQL `serve` +
  one `worker` over Redis) answers with the local responder; replies/s and p50/p99 from the
  webhook leaving the sandbox to the reply arriving there, CPU per message, round trips per
  processed message;
* **memory**: `bench/memory.py` in a fresh process.

Runs alternate the order of hub and reference; each figure is the median of `--repeats`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.measure import Figures, Lab, LabConfig
from bench.report import render
from bench.stack import BENCH

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DOCS = BENCH.parent / "docs" / "benchmarks.md"
# Issue 6's processing goal per database, the rate of the cold-start pass.
COLD_RATE = {"sqlite": 150.0, "postgresql": 200.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), help="default: both")
    p.add_argument("--quick", action="store_true", help="one short pass: a smoke test")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0, help="length of each intake load")
    p.add_argument("--rates", default="100,200,400", help="open-loop intake rates (req/s)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--process-rates", default="50,100,150,200", help="messages/s")
    p.add_argument("--process-seconds", type=float, default=8.0)
    p.add_argument("--burst", type=int, default=400, help="messages written at once (0: skip)")
    p.add_argument(
        "--pairs-rate",
        type=float,
        default=100.0,
        help="messages/s with every chat writing twice in a row, so that each second reply "
        "waits out the chat's one message a second (0: skip)",
    )
    p.add_argument(
        "--no-cold",
        action="store_true",
        help="skip the pass whose load meets the processes as they start (at the issue's "
        "goal rate: 150 msg/s on SQLite, 200 on PostgreSQL)",
    )
    p.add_argument("--drain", type=float, default=20.0, help="max wait for late replies (s)")
    p.add_argument("--count-requests", type=int, default=300)
    p.add_argument("--warmup", type=int, default=100, help="requests before each intake load")
    p.add_argument("--memory-chats", default="1000,100000")
    p.add_argument("--no-flood", action="store_true", help="switch the sandbox's limits off")
    p.add_argument("--log-level", default="INFO", help="EASYFLOW_LOG_LEVEL of the hub")
    p.add_argument("--postgres", default=POSTGRES)
    p.add_argument("--json", type=Path, help="write the raw figures here")
    p.add_argument("--workdir", type=Path, help="keep databases' logs here (default: a temp dir)")
    p.add_argument("--only", default="intake,counts,processing,memory", help="phases to run")
    p.add_argument("--write-docs", action="store_true", help=f"regenerate {DOCS.name}")
    args = p.parse_args(argv)
    if args.quick:  # a smoke test: every phase runs and yields figures, on SQLite unless told
        args.db = args.db or "sqlite"
        args.repeats, args.seconds, args.rates = 1, 2.0, "100"
        args.process_rates, args.process_seconds, args.burst = "20", 2.0, 0
        args.pairs_rate, args.no_cold = 0.0, True
        args.count_requests, args.drain, args.memory_chats = 30, 5.0, "1000,5000"
        args.warmup = 20
    args.db = args.db or "both"
    return args


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


async def bench_database(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rates, process_rates = _floats(args.rates), _floats(args.process_rates)
    cfg = LabConfig(
        kind=kind,
        workdir=workdir / kind,
        postgres=args.postgres,
        max_rate=max([*process_rates, args.pairs_rate, 1.0]),
        connections=args.connections,
        warmup=args.warmup,
        log_level=args.log_level,
        flood=not args.no_flood,
    )
    lab = Lab(cfg)
    out: dict[str, Any] = {"bots": lab.bots, "intake": {}, "processing": {}, "counts": {}}
    try:
        await lab.start()
        runs: dict[str, list[Figures]] = {}
        loads = [("closed", 0.0)] + [("open", r) for r in rates]
        for repeat in range(args.repeats if "intake" in args.only else 0):
            apps = ("reference", "hub") if repeat % 2 == 0 else ("hub", "reference")
            for mode, rate in loads:
                for app in apps:
                    key = f"{app}|{mode}|{rate:g}"
                    _say(f"{kind} intake {key} run {repeat + 1}/{args.repeats}")
                    runs.setdefault(key, []).append(await lab.intake(app, mode, rate, args.seconds))
        out["intake"] = {key: _median(values) for key, values in runs.items()}
        out["intake_runs"] = {key: [f.values for f in values] for key, values in runs.items()}
        for app in ("reference", "hub") if "counts" in args.only else ():
            _say(f"{kind} counting {app}")
            out["counts"][app] = (await lab.intake_counts(app, args.count_requests, 50.0)).values
        if "processing" not in args.only:
            return out
        seconds, drain = args.process_seconds, args.drain
        passes = [Pass(f"{rate:g}", f"{rate:g} msg/s", rate, int(rate * seconds), drain)
                  for rate in process_rates]  # fmt: skip
        if args.burst:
            passes.append(Pass("burst", f"burst of {args.burst}", 0.0, args.burst,
                               drain + args.burst / 20))  # fmt: skip
        if args.pairs_rate:
            passes.append(Pass("pairs", f"{args.pairs_rate:g} msg/s, two in a row per chat",
                               args.pairs_rate, int(args.pairs_rate * seconds), drain,
                               per_chat=2))  # fmt: skip
        if not args.no_cold:
            rate = COLD_RATE[kind]
            passes.append(Pass("cold", f"{rate:g} msg/s from a cold start", rate,
                               int(rate * seconds), drain, cold=True))  # fmt: skip
        out["processing_runs"] = {}
        for each in passes:
            figures = []
            for repeat in range(args.repeats):
                _say(f"{kind} processing {each.label} run {repeat + 1}/{args.repeats}")
                run = lab.processing(
                    each.rate, each.count, each.drain, per_chat=each.per_chat, cold=each.cold
                )
                figures.append(await run)
            out["processing"][each.key] = _median(figures)
            out["processing_runs"][each.key] = [f.values for f in figures]
        _say(f"{kind} processing, counted")
        count = max(10, args.count_requests // 3)
        out["processing_counts"] = (
            await lab.processing(10.0, count, args.drain, counted=True)
        ).values
    finally:
        await lab.close()
    return out


@dataclass(frozen=True)
class Pass:
    """One processing load: `key` names it in the results (a rate, "burst", "pairs", "cold")."""

    key: str
    label: str
    rate: float
    count: int
    drain: float
    per_chat: int = 1
    cold: bool = False


def _median(runs: list[Figures]) -> dict[str, Any]:
    """The median of every numeric figure over runs (in nested dicts too, as CPU per message
    by process); the rest from the first run."""
    merged = _median_of([r.values for r in runs])
    merged["runs"] = len(runs)
    return merged


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    merged = dict(runs[0])
    for key, value in merged.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            numbers = [r[key] for r in runs if isinstance(r.get(key), int | float)]
            median = statistics.median(numbers) if numbers else None
            counts = all(isinstance(n, int) for n in numbers)  # stay counts: 40, not 40.0
            merged[key] = int(median) if counts and median == int(median or 0) else median
        elif isinstance(value, dict):
            merged[key] = _median_of([r[key] for r in runs if isinstance(r.get(key), dict)])
    return merged


def memory(chats: str) -> dict[str, Any]:
    _say(f"memory: {chats} distinct chats")
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.memory", "--chats", chats, "--json"],
        capture_output=True,
        text=True,
        cwd=BENCH.parent,
        timeout=3600,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_before": os.getloadavg(),
        "wrk": loadgen.wrk_path() is not None,
    }


def command_line(argv: list[str]) -> str:
    return " ".join(["bench/run", *argv])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if loadgen.wrk_path() is None:
        _say(f"wrk not found: closed-loop load falls back to the asyncio client. Install: "
             f"{loadgen.WRK_INSTALL}")  # fmt: skip
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    started = time.time()
    results: dict[str, Any] = {"machine": machine(), "args": vars(args) | {"json": None},
                               "command": command_line(argv), "databases": {}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="efbench-") as tmp:
        workdir = args.workdir or Path(tmp)
        for kind in kinds:
            results["databases"][kind] = asyncio.run(bench_database(kind, args, workdir))
    if "memory" in args.only:
        results["memory"] = memory(args.memory_chats)
    results["seconds"] = time.time() - started
    results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = render(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if args.write_docs:
        DOCS.write_text(render(results, docs=True))
        _say(f"wrote {DOCS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
