"""Liveness, readiness, integration health (cached) and the Prometheus metrics.

Each test runs on SQLite and on PostgreSQL. The database outage is real: the PostgreSQL
database stops accepting connections (its open ones are terminated), the SQLite file's
directory disappears; both come back and readiness follows.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from easyflow.sandbox.faults import FaultSpec
from easyflow.storage import upgrade
from support.hub import Hub, running_hub

from .helpers import rows

GET_ME = {"platform": "telegram", "method": "getMe", "status": "ok"}


def _get_me_calls(hub: Hub, status: str = "ok") -> float:
    value = hub.container.metrics.registry.get_sample_value(
        "integration_api_calls_total", {**GET_ME, "status": status}
    )
    return value or 0.0


@pytest.fixture
async def fresh_hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    """A hub whose integration health is never cached (health_cache_seconds=0)."""
    async with running_hub(
        migrated_database_url, tmp_path, encryption_key, health_cache_seconds=0
    ) as hub:
        yield hub


# --------------------------------------------------------------------------- liveness, readiness


async def test_liveness(hub: Hub) -> None:
    response = await hub.http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_checks_the_database(hub: Hub) -> None:
    response = await hub.http.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"


Outage = Callable[[], Awaitable[None]]


@asynccontextmanager
async def _closable_database(
    db_backend: str, database_url: str, tmp_path: Path
) -> AsyncIterator[tuple[str, Outage, Outage]]:
    """A migrated database of this test's own, with `close()` and `reopen()` for an outage."""
    if db_backend == "sqlite":
        directory = tmp_path / "db"
        directory.mkdir()
        url = f"sqlite+aiosqlite:///{directory / 'easyflow.db'}"
        await upgrade(url)

        async def close() -> None:
            shutil.move(directory, tmp_path / "db-away")

        async def reopen() -> None:
            shutil.move(tmp_path / "db-away", directory)

        yield url, close, reopen
        return

    await upgrade(database_url)
    parsed = make_url(database_url)
    name = parsed.database
    admin_dsn = parsed.set(drivername="postgresql", database="postgres").render_as_string(False)

    async def admin(*statements: str) -> None:
        connection = await asyncpg.connect(admin_dsn, timeout=10)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    async def close() -> None:
        await admin(
            f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false',
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",  # noqa: S608
        )

    async def reopen() -> None:
        await admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    try:
        yield database_url, close, reopen
    finally:
        await reopen()  # the fixture drops it WITH (FORCE) afterwards


async def test_readiness_is_503_while_the_database_is_unreachable(
    db_backend: str, database_url: str, tmp_path: Path, encryption_key: str
) -> None:
    async with (
        _closable_database(db_backend, database_url, tmp_path) as (url, close, reopen),
        running_hub(url, tmp_path / "data", encryption_key) as hub,
    ):
        assert (await hub.http.get("/health/ready")).status_code == 200
        await close()
        await hub.container.engine.dispose()  # no pooled connection survives the outage
        response = await hub.http.get("/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["checks"]["database"].startswith("error")
        # Liveness does not depend on the database.
        assert (await hub.http.get("/health")).status_code == 200

        await reopen()
        response = await hub.http.get("/health/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["database"] == "ok"


# --------------------------------------------------------------------------- integrations


async def test_integration_health_is_healthy_with_a_working_bot(hub: Hub) -> None:
    response = await hub.http.get("/health/integrations")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    telegram = body["integrations"]["telegram"]
    assert telegram["status"] == "healthy"
    assert telegram["integrations"] == 1
    assert "errors" not in telegram
    assert body["timestamp"]
    gauge = hub.container.metrics.registry.get_sample_value(
        "integration_healthy", {"platform": "telegram"}
    )
    assert gauge == 1


async def _own_health(hub: Hub) -> list[tuple[int, str, str | None]]:
    """The tenant's own view (its API key): each integration with its error."""
    body = (await hub.http.get("/api/v1/integrations/health", headers=hub.auth)).json()
    return [(i["id"], i["status"], i["error"]) for i in body["integrations"]]


async def test_integration_health_is_cached(hub: Hub) -> None:
    before = _get_me_calls(hub)  # connecting the bot called getMe once
    first = await hub.http.get("/health/integrations")
    concurrent = await asyncio.gather(*(hub.http.get("/health/integrations") for _ in range(5)))
    sequential = [await hub.http.get("/health/integrations") for _ in range(5)]
    assert _get_me_calls(hub) - before == 1
    bodies = [r.json() for r in (first, *concurrent, *sequential)]
    assert all(b == bodies[0] for b in bodies)  # the same cached report, timestamp included


async def test_paused_integrations_are_not_probed(hub: Hub) -> None:
    await hub.http.post(f"/api/v1/integrations/{hub.integration_id}/pause", headers=hub.auth)
    before = _get_me_calls(hub)
    body = (await hub.http.get("/health/integrations")).json()
    assert body == {"status": "healthy", "timestamp": body["timestamp"], "integrations": {}}
    assert _get_me_calls(hub) == before


async def test_a_token_the_platform_no_longer_knows_is_unhealthy(fresh_hub: Hub) -> None:
    hub = fresh_hub
    assert (await hub.http.get("/health/integrations")).json()["status"] == "healthy"
    await hub.sandbox.reset()  # the sandbox forgets every bot: getMe answers 401
    body = (await hub.http.get("/health/integrations")).json()
    assert body["status"] == "degraded"
    telegram = body["integrations"]["telegram"]
    assert telegram["status"] == "unhealthy"
    assert "errors" not in telegram and telegram["by_status"] == {"unhealthy": 1}
    assert _get_me_calls(hub, "AuthenticationError") == 1
    assert await _own_health(hub) == [(hub.integration_id, "unhealthy", "Unauthorized")]
    gauge = hub.container.metrics.registry.get_sample_value(
        "integration_healthy", {"platform": "telegram"}
    )
    assert gauge == 0


async def test_one_bad_bot_of_two_makes_the_platform_unhealthy(fresh_hub: Hub) -> None:
    hub = fresh_hub
    token = hub.sandbox.telegram.register_bot()["token"]
    await hub.container.integrations.add(hub.tenant_id, "telegram", {"token": token})
    await hub.sandbox.reset()
    hub.sandbox.telegram.register_bot(hub.token, username="test_shop_bot")  # only this one back
    telegram = (await hub.http.get("/health/integrations")).json()["integrations"]["telegram"]
    assert telegram["status"] == "unhealthy"
    assert telegram["integrations"] == 2


async def test_a_platform_that_keeps_failing_is_error(fresh_hub: Hub) -> None:
    hub = fresh_hub
    hub.sandbox.faults.add(
        FaultSpec(platform="telegram", kind="http_error", status=502, method="getMe")
    )
    body = (await hub.http.get("/health/integrations")).json()
    assert body["status"] == "degraded"
    telegram = body["integrations"]["telegram"]
    assert telegram["status"] == "error"
    assert "errors" not in telegram and telegram["by_status"] == {"error": 1}
    assert _get_me_calls(hub, "RetryableError") == 4  # retried, then reported
    assert await _own_health(hub) == [(hub.integration_id, "error", "Bad Gateway")]

    hub.sandbox.faults.clear()
    assert (await hub.http.get("/health/integrations")).json()["status"] == "healthy"


# --------------------------------------------------------------------------- metrics

SEED_METRICS = {
    "integration_api_calls_total": "counter",
    "integration_api_response_seconds": "histogram",
    "integration_sync_success_total": "counter",
    "webhook_requests_total": "counter",
    "outbox_deliveries_total": "counter",
}


async def test_metrics_are_defined_before_anything_happened(hub: Hub) -> None:
    response = await hub.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    for name, kind in SEED_METRICS.items():
        assert any(line.startswith(f"# HELP {name} ") for line in lines), name
        assert f"# TYPE {name} {kind}" in lines, name


async def test_metrics_count_a_conversation(hub: Hub) -> None:
    await hub.customer_writes("Where is my order 1001?")
    text = (await hub.http.get("/metrics")).text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    telegram = {"platform": "telegram"}
    assert value("integration_api_calls_total", **telegram, method="sendMessage", status="ok") == 1
    assert value("integration_api_response_seconds_count", **telegram, method="sendMessage") == 1
    assert value("webhook_requests_total", **telegram, outcome="accepted") == 1
    assert value("outbox_deliveries_total", **telegram, outcome="sent") == 1
    assert await rows(hub, "SELECT count(*) FROM outbox WHERE status = 'sent'") == [(1,)]
