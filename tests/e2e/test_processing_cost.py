"""What one processed text message costs the database: statements and transactions, counted.

Counts, not timings: SQLAlchemy event listeners on the hub's engine count what the jobs
(processing the inbound event and sending the reply) execute, from the stored event to the
reply recorded by the sandbox; the webhook intake is not counted. A round trip is a statement,
a BEGIN, a COMMIT or a ROLLBACK — each is one exchange with PostgreSQL; on SQLite it is a hop
to the driver's thread, counted where aiosqlite queues it (a BEGIN rides with the next
statement). Issue 6 aims at 3 transactions and 15 round trips per message; the bounds below
pin what the pipeline costs today (it was 10 transactions and 48 round trips, then 6 and 30,
then 2 and 16; the tenant now comes with the chat's pending events, and on SQLite the usage
and attempt rows ride with the next hop), so any regression fails
here and each further cut lowers them. With the local responder alone the reply is computed
and stored in the transaction that records the message (PostgreSQL: that one transaction;
SQLite adds the delivery's own).
"""

from __future__ import annotations

import contextvars
from collections import Counter
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event

from easyflow.storage.engine import AUTOCOMMIT_OPTION
from support.hub import CHAT, Hub

pytestmark = pytest.mark.asyncio

# The message's transaction (the chat's pending events read, the message and its reply
# stored) and the delivery's: in autocommit on PostgreSQL (one statement), a BEGIN … COMMIT
# block on SQLite.
MAX_TRANSACTIONS = {"postgresql": 2, "sqlite": 2}
# PostgreSQL does in one statement what SQLite does in two, at three points (the contact with
# the conversation, storing the message with its history, recording a delivery with its
# attempt row: three statements on SQLite); SQLite's "round trips" are thread hops, and its
# usage and attempt rows, whose outcome nobody reads, ride with the next statement's or the
# COMMIT's hop.
MAX_ROUND_TRIPS = {"postgresql": 7, "sqlite": 12}

_IN_JOB: contextvars.ContextVar[bool] = contextvars.ContextVar("in_job", default=False)


class _Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.statements: list[str] = []

    def execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not _IN_JOB.get() or statement.lstrip()[:5].upper() == "BEGIN":
            return  # SQLite's BEGIN IMMEDIATE is counted once, as the transaction's begin
        self.counts["statements"] += 1
        if _autocommit(conn):  # a transaction of its own
            self.counts["autocommits"] += 1
        self.statements.append(" ".join(statement.split())[:110])

    def bump(self, name: str) -> Any:
        def listener(conn: Any, *args: Any) -> None:
            # An autocommit unit sends no BEGIN, COMMIT or ROLLBACK, though SQLAlchemy still
            # fires its events for one.
            if _IN_JOB.get() and not _autocommit(conn):
                self.counts[name] += 1

        return listener

    def hop(self) -> None:
        if _IN_JOB.get():
            self.counts["hops"] += 1

    @property
    def transactions(self) -> int:
        return self.counts["begins"] + self.counts["autocommits"]

    @property
    def round_trips(self) -> int:
        c = self.counts
        if "hops" in c:  # SQLite: what was queued to the driver's thread, counted there
            return c["hops"]
        return c["statements"] + c["begins"] + c["commits"] + c["rollbacks"]

    def report(self, backend: str) -> str:
        lines = [
            f"{backend}: {dict(self.counts)}, transactions {self.transactions}, "
            f"round trips {self.round_trips}"
        ]
        return "\n".join(lines + [f"  {s}" for s in self.statements])


def _autocommit(conn: Any) -> bool:
    options = conn.get_execution_options()
    return bool(options.get(AUTOCOMMIT_OPTION) or options.get("isolation_level") == "AUTOCOMMIT")


def _counted(handler: Any) -> Any:
    async def run(item_id: int) -> None:
        token = _IN_JOB.set(True)
        try:
            await handler(item_id)
        finally:
            _IN_JOB.reset(token)

    return run


async def _one_message(hub: Hub, monkeypatch: pytest.MonkeyPatch, text: str) -> _Tally:
    tally = _Tally()
    engine = hub.container.engine.sync_engine
    listeners = [
        ("before_cursor_execute", tally.execute),
        ("begin", tally.bump("begins")),
        ("commit", tally.bump("commits")),
        ("rollback", tally.bump("rollbacks")),
    ]
    # The queue looks its handlers up on the container at each task.
    monkeypatch.setattr(hub.container, "handle_inbound", _counted(hub.container.handle_inbound))
    monkeypatch.setattr(hub.container, "send_outbox", _counted(hub.container.send_outbox))
    if engine.dialect.name == "sqlite":
        queue_call = aiosqlite.Connection._execute

        async def counted_hop(self: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            tally.hop()
            return await queue_call(self, fn, *args, **kw)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted_hop)
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        await hub.customer_writes(text)
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    return tally


async def test_a_text_message_becomes_a_reply_within_its_round_trip_budget(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, db_backend: str
) -> None:
    await hub.customer_writes("hello")  # the chat exists, as for most messages
    sent_before = len(hub.sent(CHAT))

    tally = await _one_message(hub, monkeypatch, "how long is delivery?")

    print(tally.report(db_backend))
    assert len(hub.sent(CHAT)) == sent_before + 1
    assert "2-4 days" in hub.sent(CHAT)[-1]
    assert tally.transactions <= MAX_TRANSACTIONS[db_backend], tally.report(db_backend)
    assert tally.round_trips <= MAX_ROUND_TRIPS[db_backend], tally.report(db_backend)
