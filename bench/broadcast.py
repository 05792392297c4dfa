"""A broadcast under Telegram's limits: N notifications to N chats, against the minimum time.

    .venv/bin/python -m bench.broadcast [--chats 300] [--workers 2] [--db postgresql|sqlite]

Everything runs as separate processes, as in production: the Telegram sandbox with its flood
control on (`bench/sandbox_server.py`: `easyflow sandbox`'s app plus a clock on every
`sendMessage` answer), a private `redis-server`, `easyflow serve` (API, webhooks) and
`--workers` × `easyflow worker` on the Redis broker, sharing the rate-limit budget there.
(`--db sqlite` runs `easyflow serve` alone, jobs in process, on the in-memory broker.)

1. N customers write to the shop's bot (so N contacts and chats exist) and get their replies.
2. One `POST /api/v1/notifications/broadcast` queues `payment_received` for all N contacts.
3. The sandbox's clock tells when each `sendMessage` of the broadcast was answered.

Figures: the time from the request to the last delivery, beside the minimum Telegram's
global limit allows, (N - 1) / 30 s (the SPEC's `key` limit, 30 messages/s per bot); their
ratio (goal ≤ 1.1); and the 429 answers the sandbox gave (goal 0). JSON on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from bench.stack import (
    BENCH,
    Databases,
    Proc,
    child_pythonpath,
    easyflow_bin,
    free_port,
    seed,
    wait_http,
    wait_tcp,
)

PG = os.environ.get("EASYFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RATE = 30.0  # Telegram: ~30 messages/s per bot (platforms SPEC `key` limit)
FIRST_CHAT = 700_000_000


class Stack:
    def __init__(self, kind: str, workers: int, workdir: Path) -> None:
        self.kind, self.workers, self.workdir = kind, workers, workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.hub_port, self.sandbox_port, self.redis_port = free_port(), free_port(), free_port()
        self.hub = f"http://127.0.0.1:{self.hub_port}"
        self.sandbox = f"http://127.0.0.1:{self.sandbox_port}"
        self.dbs = Databases(kind, workdir, PG)
        self.procs: list[Proc] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EASYFLOW_")}
        self.env.update(
            EASYFLOW_DATA_DIR=str(workdir / "data"),
            EASYFLOW_SECRET_KEYS=Fernet.generate_key().decode(),
            EASYFLOW_PUBLIC_URL=self.hub,
            EASYFLOW_SANDBOX_URL=self.sandbox,
            EASYFLOW_LOG_LEVEL="WARNING",
            PYTHONPATH=child_pythonpath(),
        )
        if kind == "postgresql":
            self.env["EASYFLOW_BROKER_URL"] = f"redis://127.0.0.1:{self.redis_port}/0"

    async def _run(self, name: str, argv: list[str]) -> Proc:
        proc = Proc(name, argv, self.env, self.logs)
        await proc.start()
        self.procs.append(proc)
        return proc

    async def start(self) -> tuple[str, int]:
        """Every process up; the tenant's API key and its bot's integration id."""
        script = str(BENCH / "sandbox_server.py")
        sandbox = await self._run(
            "sandbox", [sys.executable, script, "--port", str(self.sandbox_port)]
        )
        await wait_http(f"{self.sandbox}/_sandbox", sandbox)
        if self.kind == "postgresql":
            argv = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no"]  # fmt: skip
            await wait_tcp(self.redis_port, await self._run("redis", argv))
        db = await self.dbs.create_template()
        self.env["EASYFLOW_DATABASE_URL"] = db.url
        seeded = await seed(db, self.env, self.sandbox, bots=1)
        self.token = seeded.tokens[0]
        hub = await self._run("hub", [easyflow_bin(), "serve", "--port", str(self.hub_port)])
        await wait_http(f"{self.hub}/health", hub)
        for n in range(self.workers if self.kind == "postgresql" else 0):
            worker = await self._run(f"worker-{n}", [easyflow_bin(), "worker"])
            await asyncio.sleep(1.5)  # it has no port: give it time to join the stream
            if not worker.alive():
                raise RuntimeError(f"worker exited:\n{worker.tail()}")
        return seeded.api_key, seeded.integration_ids[0]

    async def close(self) -> None:
        for proc in reversed(self.procs):
            await proc.stop()
        await self.dbs.drop_all()


async def _wait(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value is not None:
            return value
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{what}: not within {timeout} s")


async def measure(stack: Stack, api_key: str, chats: int) -> dict[str, Any]:
    auth = {"Authorization": f"Bearer {api_key}"}
    async with (
        httpx.AsyncClient(base_url=stack.sandbox, timeout=30) as sandbox,
        httpx.AsyncClient(base_url=stack.hub, timeout=60, headers=auth) as hub,
    ):
        # 1. The customers write (the sandbox drives them), and get their replies.
        drive = {"tokens": [stack.token], "rate": 200, "count": chats, "chats": chats,
                 "first_chat": FIRST_CHAT}  # fmt: skip
        (await sandbox.post("/_bench/drive", json=drive)).raise_for_status()

        async def replied() -> bool | None:
            timeline = (await sandbox.get("/_bench/timeline")).json()
            answered = {chat for chat, _, status in timeline["replies"] if status == 200}
            return True if len(answered) >= chats and not timeline["busy"] else None

        await _wait("replies to the customers", replied, 120 + chats / 10)
        await asyncio.sleep(1.5)  # past every chat's 1 message/s window
        (await sandbox.post("/_bench/clear")).raise_for_status()
        contacts = await _contact_ids(stack, chats)

        # 2. The broadcast, timed from the request.
        body = {
            "template": "payment_received",
            "data": {"amount": "990 ₽"},
            "recipients": [{"contact_id": c, "data": {"number": str(c)}} for c in contacts],
        }
        started = time.monotonic()
        response = await hub.post("/api/v1/notifications/broadcast", json=body)
        accepted = time.monotonic()
        response.raise_for_status()

        async def delivered() -> dict[str, Any] | None:
            timeline = (await sandbox.get("/_bench/timeline")).json()
            ok = [(chat, at) for chat, at, status in timeline["replies"] if status == 200]
            if len({chat for chat, _ in ok}) < chats:
                return None
            return timeline

        timeline = await _wait("the broadcast", delivered, 60 + 3 * chats / RATE)
    replies = timeline["replies"]
    ok_times = sorted(at for _, at, status in replies if status == 200)
    minimum = (chats - 1) / RATE
    elapsed = ok_times[-1] - started
    # Jitter: how far the sends strayed from their 1/30 s spacing (the sandbox counts a
    # sliding second, so sends bunched by late wake-ups are what earns a 429).
    gaps = sorted(b - a for a, b in itertools.pairwise(ok_times))
    bunched = min(ok_times[k] - ok_times[k - 29] for k in range(29, len(ok_times)))
    return {
        "db": stack.kind,
        "workers": stack.workers if stack.kind == "postgresql" else 0,
        "chats": chats,
        "rate_limit_per_s": RATE,
        "minimum_seconds": round(minimum, 2),
        "seconds": round(elapsed, 2),
        "ratio": round(elapsed / minimum, 3),
        "request_seconds": round(accepted - started, 3),  # staging N rows, answered 202
        "first_to_last_seconds": round(ok_times[-1] - ok_times[0], 2),
        "sent": len(ok_times),
        "rate_limited_429": sum(1 for _, _, status in replies if status == 429),
        "other_errors": sum(1 for _, _, status in replies if status not in (200, 429)),
        "first_send_after_request_seconds": round(ok_times[0] - started, 3),
        "gap_ms_min_median_max": [
            round(g * 1000, 1) for g in (gaps[0], gaps[len(gaps) // 2], gaps[-1])
        ],
        "shortest_30_sends_seconds": round(bunched, 3),
        "429_at_seconds": [round(at - started, 2) for _, at, st in replies if st == 429],
    }


async def _contact_ids(stack: Stack, chats: int) -> list[int]:
    url = stack.env["EASYFLOW_DATABASE_URL"]
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id FROM contacts ORDER BY id"))
            ids = [r.id for r in rows]
    finally:
        await engine.dispose()
    if len(ids) != chats:
        raise RuntimeError(f"{len(ids)} contacts, expected {chats}")
    return ids


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="efbench-broadcast-") as tmp:
        stack = Stack(args.db, args.workers, Path(tmp))
        try:
            api_key, _ = await stack.start()
            result = await measure(stack, api_key, args.chats)
        except BaseException:
            for proc in stack.procs:
                print(f"--- {proc.name}\n{proc.tail()}", file=sys.stderr)
            raise
        finally:
            await stack.close()
    return result


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))


if __name__ == "__main__":
    _cli()
