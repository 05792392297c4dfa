"""Transient database failures lose nothing: every acknowledged update gets exactly one reply.

The burst test kills the hub's PostgreSQL connections (pg_terminate_backend from a separate
connection) while a burst of customers writes; the sweep then finishes whatever the dropped
connections interrupted. Progress, not time, decides when to kill: after a share of replies.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import make_url

from easyflow.services.messaging import InboundProcessor
from easyflow.services.retries import RetrySchedule
from easyflow.storage import SqlUnitOfWorkFactory
from easyflow.storage.uow import SqlUnitOfWork
from easyflow.webhooks.intake import WebhookIntake
from support.hub import CHAT, ORDERS, Hub, running_hub

HELLO = "Hello! I can tell you where your order is — just send its number."
CHATS = 300
KILL_AFTER_REPLIES = (30, 100, 180)  # three rounds of terminated connections mid-burst


@pytest.fixture
async def quick_retry_hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    """The hub with retries due at once, so the test drives them with the sweep alone."""
    async with running_hub(
        migrated_database_url, tmp_path, encryption_key, retry_base_seconds=0.0
    ) as hub:
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        yield hub


async def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


async def _terminate_hub_connections(database_url: str) -> int:
    """Kill every backend of the hub on the test database (not this connection's own)."""
    url = make_url(database_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND application_name = 'easyflow' AND pid <> pg_backend_pid()",
            url.database,
        )
    finally:
        await connection.close()
    return sum(1 for row in rows if row[0])


async def _drain(hub: Hub, rounds: int = 20) -> None:
    """Settle, then let the sweep hand out whatever is left, until nothing is."""
    for _ in range(rounds):
        await hub.settle(timeout=60)
        later = datetime.now(UTC) + timedelta(hours=1)
        if await hub.container.recovery.run(now=later) == (0, 0):
            return
    raise AssertionError("the sweep kept finding work")


def _acknowledged_chats(hub: Hub) -> set[int]:
    return {
        d.chat_id
        for d in hub.sandbox.telegram.deliveries(hub.token)
        if d.status_code is not None and 200 <= d.status_code < 300
    }


@pytest.mark.parametrize("db_backend", [pytest.param("postgresql", marks=pytest.mark.postgresql)])
async def test_terminated_connections_mid_burst_lose_and_double_nothing(
    quick_retry_hub: Hub, migrated_database_url: str
) -> None:
    hub = quick_retry_hub
    first_chat = 7_000_000
    for n in range(CHATS):
        await hub.sandbox.telegram.customer_writes(hub.token, first_chat + n, "Hello!")

    killed = 0
    for threshold in KILL_AFTER_REPLIES:
        await _until(lambda t=threshold: len(hub.sandbox.telegram.sent(hub.token)) >= t)
        killed += await _terminate_hub_connections(migrated_database_url)
    await _drain(hub)

    acknowledged = _acknowledged_chats(hub)
    replies = Counter(m.chat_id for m in hub.sandbox.telegram.sent(hub.token))
    assert killed > 0  # the burst really lost connections
    assert len(acknowledged) == CHATS
    assert {chat: n for chat, n in replies.items() if n != 1} == {}
    assert set(replies) == acknowledged
    assert all(m.text == HELLO for m in hub.sandbox.telegram.sent(hub.token))
    async with hub.container.engine.connect() as conn:
        left = (
            await conn.execute(text("SELECT status, count(*) FROM inbound_events GROUP BY status"))
        ).all()
    assert dict(left) == {"done": CHATS}


# --------------------------------------------------------------------------- injected failures


def _dropped_connection() -> Exception:
    """What SQLAlchemy raises when the server dropped the connection mid-statement."""
    return sa_exc.OperationalError(
        "COMMIT",
        None,
        ConnectionResetError("server closed the connection unexpectedly"),
        connection_invalidated=True,
    )


class FlakyUnitOfWork:
    """A real unit of work whose commit meets `error` inside the block when the factory says
    so, so the real unit of work's boundary sees the driver's error (and translates it)."""

    def __init__(
        self, real: SqlUnitOfWork, factory: FlakyFactory, *, autocommit: bool = False
    ) -> None:
        self._real = real
        self._factory = factory
        self._autocommit = autocommit
        self._touched: set[str] = set()

    def __getattr__(self, name: str) -> object:
        self._touched.add(name)
        return getattr(self._real, name)

    async def __aenter__(self) -> FlakyUnitOfWork:
        await self._real.__aenter__()
        if self._autocommit and self._factory.always:
            # Autocommit has no commit to fail: the outage meets its first statement, and
            # the real unit's boundary translates it as it would the driver's error.
            error = self._factory.error()
            await self._real.__aexit__(type(error), error, None)
            raise error
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._real.__aexit__(*exc_info)

    async def commit(self) -> None:
        if self._factory.fails(self._touched):
            raise self._factory.error()
        await self._real.commit()


class FlakyFactory:
    """Fails the commit of `failures` units that used the repository `when` (or every unit
    while `always`)."""

    def __init__(self, real: SqlUnitOfWorkFactory, when: str = "", failures: int = 0) -> None:
        self._real = real
        self.when = when
        self.failures = failures
        self.always = False
        self.error: Callable[[], Exception] = _dropped_connection

    def fails(self, touched: set[str]) -> bool:
        if self.always:
            return True
        if self.failures > 0 and self.when in touched:
            self.failures -= 1
            return True
        return False

    def __call__(self) -> FlakyUnitOfWork:
        return FlakyUnitOfWork(self._real(), self)

    def autocommit(self, *, urgent: bool = False) -> FlakyUnitOfWork:
        return FlakyUnitOfWork(self._real.autocommit(urgent=urgent), self, autocommit=True)

    def single_write(self) -> FlakyUnitOfWork:
        # A failed commit stands for the outage hitting the one write, as it would in
        # autocommit: in either case nothing of it was stored.
        return FlakyUnitOfWork(self._real.single_write(), self)


def _install(hub: Hub, flaky: FlakyFactory, max_attempts: int = 8) -> None:
    """Process inbound events of `hub` through the flaky unit of work (retries due at once)."""
    c = hub.container
    c.inbound = InboundProcessor(
        flaky,  # type: ignore[arg-type]
        c.inbound._replies,
        c.queue,
        c.inbound._locks,
        c.metrics,
        retry=RetrySchedule(base_seconds=0.0, max_attempts=max_attempts),
    )


async def _event_row(hub: Hub) -> tuple[str, int, str | None, bool]:
    async with hub.container.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT status, attempts, error, next_attempt_at FROM inbound_events")
            )
        ).one()
    return row.status, row.attempts, row.error, row.next_attempt_at is not None


async def _sweep(hub: Hub) -> tuple[int, int]:
    found = await hub.container.recovery.run(now=datetime.now(UTC) + timedelta(seconds=1))
    await hub.settle()
    return found


async def test_a_dropped_connection_while_storing_the_reply_is_retried(hub: Hub) -> None:
    flaky = FlakyFactory(hub.container.uow, when="outbox", failures=1)  # the reply's unit
    _install(hub, flaky)

    await hub.customer_writes("Hello!")

    status, attempts, error, scheduled = await _event_row(hub)
    assert hub.sent() == []
    assert (status, attempts, scheduled) == ("pending", 1, True)
    assert error is not None and error.startswith("TransientStorageError: database unavailable")
    assert await _sweep(hub) == (1, 0)
    assert hub.sent() == [HELLO]
    assert (await _event_row(hub))[:2] == ("done", 2)  # the failed attempt and this one
    assert await _sweep(hub) == (0, 0)  # nothing left, nothing doubled
    assert hub.sent() == [HELLO]


async def test_transient_failures_past_the_budget_fail_visibly_and_replay(hub: Hub) -> None:
    flaky = FlakyFactory(hub.container.uow, when="outbox", failures=3)
    _install(hub, flaky, max_attempts=3)

    await hub.customer_writes("Hello!")
    await _sweep(hub)
    await _sweep(hub)

    listed = await hub.http.get(
        "/api/v1/inbound-events", params={"status": "failed"}, headers=hub.auth
    )
    assert listed.status_code == 200
    [event] = listed.json()
    assert (event["status"], event["attempts"], event["chat_id"]) == ("failed", 3, str(CHAT))
    assert event["error"].startswith("gave up after 3 attempts: TransientStorageError")
    assert event["text"] == "Hello!"
    assert await _sweep(hub) == (0, 0)  # failed for good: only a person brings it back
    assert hub.sent() == []

    replay = await hub.http.post(f"/api/v1/inbound-events/{event['id']}/replay", headers=hub.auth)
    await hub.settle()
    assert replay.status_code == 202
    assert replay.json()["status"] == "pending"
    assert hub.sent() == [HELLO]
    assert (await _event_row(hub))[0] == "done"
    again = await hub.http.post(f"/api/v1/inbound-events/{event['id']}/replay", headers=hub.auth)
    assert again.status_code == 400  # done events do not replay


async def test_a_permanent_error_fails_at_once_with_its_reason(hub: Hub) -> None:
    flaky = FlakyFactory(hub.container.uow, when="conversations", failures=1)  # recording
    flaky.error = lambda: sa_exc.IntegrityError("INSERT", None, ValueError("a bug"))
    _install(hub, flaky)

    await hub.customer_writes("Hello!")

    status, attempts, error, scheduled = await _event_row(hub)
    assert (status, attempts, scheduled) == ("failed", 1, False)
    assert error is not None and error.startswith("IntegrityError")
    assert await _sweep(hub) == (0, 0)
    assert hub.sent() == []


async def test_database_down_leaves_the_event_pending_for_the_sweep(hub: Hub) -> None:
    flaky = FlakyFactory(hub.container.uow)
    flaky.always = True  # not even the failure can be recorded
    _install(hub, flaky)

    await hub.customer_writes("Hello!")
    assert (await _event_row(hub))[:2] == ("pending", 0)

    flaky.always = False
    assert await hub.container.recovery.run(now=datetime.now(UTC) + timedelta(hours=1)) == (1, 0)
    await hub.settle()
    assert hub.sent() == [HELLO]


async def test_a_webhook_meeting_a_database_outage_is_refused_503_then_redelivered(
    hub: Hub,
) -> None:
    c = hub.container
    flaky = FlakyFactory(c.uow)
    flaky.always = True
    c.intake = WebhookIntake(
        flaky,  # type: ignore[arg-type]
        c.adapters,
        c.queue,
        c.metrics,
        c.integration_cache,
    )
    update = {
        "update_id": 900001,
        "message": {
            "message_id": 1,
            "date": 1764460800,
            "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Ivan"},
            "text": "Hello!",
        },
    }
    secret = await hub.webhook_secret()

    refused = await hub.post_update(update, secret)
    assert refused.status_code == 503  # not acknowledged: the platform will redeliver it
    assert await hub.count("inbound_events") == 0

    flaky.always = False
    assert (await hub.post_update(update, secret)).status_code == 200
    assert (await hub.post_update(update, secret)).status_code == 200  # a duplicate: no effect
    await hub.settle()
    assert await hub.count("inbound_events") == 1
    assert await hub.count("messages WHERE direction = 'inbound'") == 1


async def test_inbound_events_are_tenant_scoped(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    other = await hub.container.tenants.create("Other Shop")
    _, other_key = await hub.container.tenants.create_api_key(other.id)
    mine = (await hub.http.get("/api/v1/inbound-events", headers=hub.auth)).json()
    theirs = await hub.http.get(
        "/api/v1/inbound-events", headers={"Authorization": f"Bearer {other_key}"}
    )
    replay = await hub.http.post(
        f"/api/v1/inbound-events/{mine[0]['id']}/replay",
        headers={"Authorization": f"Bearer {other_key}"},
    )
    assert [e["status"] for e in mine] == ["done"]
    assert theirs.json() == []
    assert replay.status_code == 404
