"""The CPU one platform call costs the hub, by the network under its httpx clients.

    PYTHONPATH=src:. .venv/bin/python -m bench.http_calls [--calls 300] [--rounds 3]

`easyflow sandbox` runs in its own process with Ozon's limits off and a few thousand
postings; the hub's side asks it for one page of 100 postings (`/v4/posting/fbs/list`,
about 80 kB: what a marketplace sync reads a thousand times per 100 000 orders), `--calls`
times in a row, through each of:

* **httpx** — the hub's cookieless httpx client on httpx's own transport (httpcore), as the
  hub called platforms before `http/transport.py`;
* **hub** — the same client over the hub's `AiohttpTransport` (aiohttp underneath), as
  `bootstrap.HttpClients` builds it;
* **aiohttp** — aiohttp alone, the reference: the same request and the body read, nothing
  else.

Per call: wall time, this process's CPU (every thread) and its event loop thread's CPU alone
(a thread hop shows as the difference), and the sandbox's CPU. The clients take turns,
`--rounds` times; the figures are per round, so the spread shows how noisy the machine is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.stack import Proc, easyflow_bin, free_port, wait_http
from easyflow.http.pooled import CookielessClient
from easyflow.http.transport import AiohttpTransport
from easyflow.sandbox.ozon.emulator import DEMO_API_KEY, DEMO_CLIENT_ID

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)  # HttpClients' own
HEADERS = {"Client-Id": DEMO_CLIENT_ID, "Api-Key": DEMO_API_KEY}
WARM_UP = 20

Call = Callable[[], Awaitable[bytes]]


def _page_request() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "filter": {
            "since": f"{now - timedelta(days=60):%Y-%m-%dT%H:%M:%SZ}",
            "to": f"{now + timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
        },
        "limit": 100,
        "cursor": "",
        "sort_dir": "ASC",
    }


async def _measure(call: Call, calls: int, sandbox: Proc) -> dict[str, float]:
    for _ in range(WARM_UP):
        await call()
    wall, cpu, loop, served = (
        time.perf_counter(),
        time.process_time(),
        time.thread_time(),
        sandbox.cpu(),
    )
    for _ in range(calls):
        await call()
    per_call = 1000 / calls
    return {
        "wall_ms": round((time.perf_counter() - wall) * per_call, 3),
        "cpu_ms": round((time.process_time() - cpu) * per_call, 3),
        "loop_cpu_ms": round((time.thread_time() - loop) * per_call, 3),
        "sandbox_cpu_ms": round((sandbox.cpu() - served) * per_call, 3),
    }


async def _through_httpx(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], calls: int, sandbox: Proc
) -> dict[str, float]:
    async with client:

        async def call() -> bytes:
            answer = await client.post(url, json=body, headers=HEADERS)
            answer.raise_for_status()
            return answer.content

        return await _measure(call, calls, sandbox)


async def _through_aiohttp(
    url: str, body: dict[str, Any], calls: int, sandbox: Proc
) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:

        async def call() -> bytes:
            async with session.post(url, json=body, headers=HEADERS) as answer:
                answer.raise_for_status()
                return await answer.read()

        return await _measure(call, calls, sandbox)


async def main(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    workdir = Path(tempfile.mkdtemp(prefix="efcalls"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox = Proc("sandbox", [easyflow_bin(), "sandbox", "--port", str(port)], os.environ, workdir)
    await sandbox.start()
    try:
        await wait_http(f"{base}/_sandbox", sandbox)
        async with httpx.AsyncClient(base_url=base, timeout=60) as control:
            for method, path, payload in (
                ("POST", "/_sandbox/reset", None),
                ("PUT", "/_sandbox/ozon/limits", {}),
                ("POST", "/_sandbox/ozon/orders", {"count": 2_000, "spread_seconds": 20 * 86_400}),
            ):
                (await control.request(method, path, json=payload)).raise_for_status()
        url, body = f"{base}/ozon/v4/posting/fbs/list", _page_request()  # Ozon under /ozon
        report: dict[str, list[dict[str, float]]] = {"httpx": [], "hub": [], "aiohttp": []}
        for _ in range(args.rounds):
            # The hub's clients keep no cookies (`http.pooled`); before, httpcore's pool.
            before = CookielessClient(limits=LIMITS)
            report["httpx"].append(await _through_httpx(before, url, body, args.calls, sandbox))
            hub = CookielessClient(transport=AiohttpTransport(LIMITS))
            report["hub"].append(await _through_httpx(hub, url, body, args.calls, sandbox))
            report["aiohttp"].append(await _through_aiohttp(url, body, args.calls, sandbox))
        return report
    finally:
        await sandbox.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _print(report: dict[str, list[dict[str, float]]]) -> None:
    print("| client | wall ms/call | CPU ms/call | loop thread CPU ms/call | sandbox CPU ms/call |")
    print("|---|---|---|---|---|")
    for client, rounds in report.items():
        cells = [", ".join(f"{r[key]:.2f}" for r in rounds) for key in rounds[0]]
        print(f"| {client} | " + " | ".join(cells) + " |")


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    report = asyncio.run(main(args))
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report), file=sys.stderr)


if __name__ == "__main__":
    _cli()
