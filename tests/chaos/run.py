"""One chaos scenario end to end: burst with faults, wait until settled, count, judge.

The burst is paced (updates per second) and spread over many chats, the way customers write;
the sandbox delivers each update to the hub's webhook with Telegram's retry schedule, so an
update the hub did not acknowledge (its API was dead) comes again later. Faults strike at
fixed update numbers and run beside the burst (the burst does not wait for a restart).
Afterwards the run waits, within a generous bound, until nothing is outstanding anywhere:
no update pending at the sandbox, no inbound event pending, no outbox row pending or retrying.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from chaos.ledger import (
    Observation,
    OutboxRow,
    Reply,
    StoredEvent,
    Verdict,
    Written,
    customer_text,
    judge,
    render,
    token_for,
)
from chaos.scenarios import Scale, Scenario
from chaos.stack import ChaosStack

FIRST_CHAT = 7_700_001
QUIET_SECONDS = 3.0  # settled = nothing outstanding for this long (late duplicates show up)
WRITERS = 16  # control-API calls in flight at once


@dataclass
class Outcome:
    verdict: Verdict
    report: str
    problems: list[str] = field(default_factory=list)
    logs: str = ""


async def run_scenario(
    scenario: Scenario, scale: Scale, postgres_dsn: str, workdir: Path
) -> Outcome:
    async with ChaosStack(workdir, postgres_dsn, scale.tuning) as stack:
        started = time.monotonic()
        written, injected = await _burst(stack, scenario, scale)
        burst_seconds = time.monotonic() - started
        unsettled = await _settle(stack, scale.settle_seconds)
        settle_seconds = time.monotonic() - started - burst_seconds
        verdict = judge(await _observe(stack, written))
        state = "did not settle" if unsettled else "settled"
        title = (
            f"{scenario.name} ({scale.name}): {scale.updates} updates in {scale.chats} chats, "
            f"{stack.tuning.workers} workers; burst {burst_seconds:.0f} s, "
            f"{state} {settle_seconds:.0f} s later"
        )
        problems = (
            verdict.problems() + stack.unexpected_exits() + ([unsettled] if unsettled else [])
        )
        report = render(verdict, title, injected, problems)
        return Outcome(verdict, report, problems, stack.tails() if problems else "")


# --------------------------------------------------------------------------- burst


async def _burst(
    stack: ChaosStack, scenario: Scenario, scale: Scale
) -> tuple[list[Written], list[str]]:
    marks = scenario.marks(scale)
    injected: list[str] = []
    written: list[Written] = []
    faults: list[asyncio.Task[None]] = []
    writers: list[asyncio.Task[None]] = []
    slots = asyncio.Semaphore(WRITERS)
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def strike(n: int, seq: int) -> None:
        began = loop.time() - start
        what = await scenario.fault(stack, n)
        injected.append(f"at update {seq}/{scale.updates} (+{began:.1f} s): {what}")

    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as sandbox:

        async def write(seq: int) -> None:
            async with slots:
                written.append(await _customer_writes(sandbox, stack.token, scale, seq))

        for seq in range(1, scale.updates + 1):
            await asyncio.sleep(max(0.0, start + seq / scale.writes_per_second - loop.time()))
            if seq in marks:
                faults.append(asyncio.create_task(strike(marks.index(seq), seq)))
            writers.append(asyncio.create_task(write(seq)))
        await _gather_all(writers)
    await _gather_all(faults)
    return written, injected


async def _gather_all(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for every task, then raise the first failure (none is left running)."""
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


async def _customer_writes(
    sandbox: httpx.AsyncClient, token: str, scale: Scale, seq: int
) -> Written:
    chat_id = FIRST_CHAT + seq % scale.chats
    response = await sandbox.post(
        f"/_sandbox/telegram/bots/{token}/messages",
        json={"chat_id": chat_id, "text": customer_text(seq), "first_name": f"Customer {chat_id}"},
    )
    response.raise_for_status()
    update = response.json()
    return Written(token_for(seq), chat_id, int(update["update_id"]), update["message"]["date"])


# --------------------------------------------------------------------------- settle


async def _settle(stack: ChaosStack, bound: float) -> str | None:
    """None once nothing is outstanding (for QUIET_SECONDS), else why it did not settle.

    Gives up early when nothing has moved for longer than any recovery path needs (a lapsed
    lock, then a stuck-event deadline, then a sweep): the hub is wedged, waiting is pointless.
    """
    tuning = stack.tuning
    stall_limit = (
        tuning.lock_ttl_seconds
        + tuning.stuck_after_seconds
        + 2 * tuning.recovery_interval_seconds
        + 20.0
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    quiet_since: float | None = None
    last, moved_at = None, loop.time()
    while True:
        outstanding, progress = await _outstanding(stack)
        now = loop.time()
        if exits := stack.unexpected_exits():
            return f"a hub process died during the run: {exits}; outstanding {outstanding}"
        if (outstanding, progress) != last:
            last, moved_at = (outstanding, progress), now
        if any(outstanding.values()):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= QUIET_SECONDS:
            return None
        if now - moved_at > stall_limit:
            return f"stalled: nothing moved for {stall_limit:.0f} s, outstanding: {outstanding}"
        if now > deadline:
            return f"not settled within {bound:.0f} s, still outstanding: {outstanding}"
        await asyncio.sleep(1.0)


async def _outstanding(stack: ChaosStack) -> tuple[dict[str, int], int]:
    """What is still to do, and how many sends have completed (progress)."""
    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=30) as sandbox:
        pending = await sandbox.get(f"/_sandbox/telegram/bots/{stack.token}/updates")
        pending.raise_for_status()
    connection = await stack.db()
    try:
        # Anything not in a final state is outstanding, whatever new states the hub grows.
        events = await connection.fetchval(
            "SELECT count(*) FROM inbound_events WHERE status NOT IN ('done', 'failed')"
        )
        outbox = await connection.fetchval(
            "SELECT count(*) FROM outbox WHERE status NOT IN ('sent', 'dead', 'unconfirmed')"
        )
        done = await connection.fetchval("SELECT count(*) FROM outbox WHERE status <> 'pending'")
    finally:
        await connection.close()
    outstanding = {
        "sandbox_undelivered": len(pending.json()["pending"]),
        "events_pending": int(events),
        "outbox_unsent": int(outbox),
    }
    return outstanding, int(done)


# --------------------------------------------------------------------------- observe


async def _observe(stack: ChaosStack, written: list[Written]) -> Observation:
    async with httpx.AsyncClient(base_url=stack.sandbox_url, timeout=60) as sandbox:
        attempts = (await _json(sandbox, f"/_sandbox/telegram/bots/{stack.token}/deliveries"))[
            "attempts"
        ]
        sent = (await _json(sandbox, f"/_sandbox/telegram/bots/{stack.token}/sent"))["messages"]
    async with stack.admin_client() as admin:
        listed = await admin.get("/api/v1/outbox", params={"status": "unconfirmed", "limit": 1000})
    api_unconfirmed = len(listed.json()) if listed.status_code == 200 else -listed.status_code
    connection = await stack.db()
    try:
        events = await connection.fetch(
            "SELECT event_id, status, attempts, error FROM inbound_events "
            "WHERE integration_id = $1",
            stack.integration_id,
        )
        outbox = await connection.fetch(
            "SELECT status, payload, last_error FROM outbox WHERE integration_id = $1",
            stack.integration_id,
        )
    finally:
        await connection.close()
    ok = [a for a in attempts if a["status_code"] is not None and 200 <= a["status_code"] < 300]
    return Observation(
        written=written,
        acked={int(a["update_id"]) for a in ok},
        delivery_attempts=len(attempts),
        failed_attempts=len(attempts) - len(ok),
        replies=[Reply(int(m["chat_id"]), m["text"], int(m["date"])) for m in sent],
        events=[
            StoredEvent(int(e["event_id"]), e["status"], e["attempts"], e["error"]) for e in events
        ],
        outbox=[
            OutboxRow(o["status"], str(_payload(o["payload"]).get("text", "")), o["last_error"])
            for o in outbox
        ],
        api_unconfirmed=api_unconfirmed,
    )


async def _json(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    response.raise_for_status()
    return response.json()


def _payload(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)
