"""Helpers: a hub wired to the Wildberries and Ozon emulators over ASGI, on SQLite and PostgreSQL.

Rate limits are the platforms' own shape, scaled down (a minute becomes 60 ms) on both sides,
so the hub's spacing and the sandbox's buckets meet as they would in production, fast.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import text

from easyflow.bootstrap import Container
from easyflow.domain.sync import SyncRun, SyncType
from easyflow.http import RateLimit, RetryPolicy
from easyflow.platforms.registry import PlatformRegistry, _definitions
from easyflow.sandbox.buckets import Limit
from easyflow.sandbox.ozon.emulator import DEMO_API_KEY, DEMO_CLIENT_ID
from easyflow.sandbox.server import Sandbox
from easyflow.sandbox.wildberries.emulator import DEMO_TOKEN

SCALE = 1 / 1000  # a documented minute lasts 60 ms here
FAST_RETRY = RetryPolicy(attempts=4, initial_backoff=0.001, max_backoff=0.01, max_retry_after=5)
CREDENTIALS = {
    "wildberries": {"token": DEMO_TOKEN},
    "ozon": {"client_id": DEMO_CLIENT_ID, "api_key": DEMO_API_KEY},
}


def scaled(limits: tuple[RateLimit, ...]) -> tuple[RateLimit, ...]:
    # 10 % over: at 60 ms a period, scheduling jitter is a larger share than at a minute.
    return tuple(dataclasses.replace(r, period=r.period * SCALE * 1.1) for r in limits)


def fast_registry() -> PlatformRegistry:
    definitions = []
    for d in _definitions():
        if d.name in ("wildberries", "ozon"):
            d = dataclasses.replace(
                d, spec=dataclasses.replace(d.spec, rate_limits=scaled(d.spec.rate_limits))
            )
        definitions.append(d)
    return PlatformRegistry(tuple(definitions))


def scale_sandbox(sandbox: Sandbox) -> None:
    for slug in ("wildberries", "ozon"):
        emulator: Any = sandbox.emulators[slug]
        rules = emulator.buckets.rules
        emulator.set_limits(
            {g: Limit(r.period * SCALE, r.limit, r.burst) for g, r in rules.items()}
        )


@dataclass
class Market:
    container: Container
    sandbox: Sandbox
    control: httpx.AsyncClient
    tenant_id: int
    ids: dict[str, int]

    def emulator(self, platform: str) -> Any:
        return self.sandbox.emulators[platform]

    async def seed(self, platform: str, count: int, spread: float = 3600.0) -> None:
        r = await self.control.post(
            f"/_sandbox/{platform}/orders", json={"count": count, "spread_seconds": spread}
        )
        assert r.status_code == 201, r.text

    async def change(self, platform: str, index: int, **body: Any) -> dict[str, Any]:
        r = await self.control.post(f"/_sandbox/{platform}/orders/{index}", json=body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def fault(self, **spec: Any) -> None:
        r = await self.control.post("/_sandbox/faults", json=spec)
        assert r.status_code == 201, r.text

    async def sync(
        self, platform: str, stream: str = "orders", sync_type: SyncType = SyncType.INCREMENTAL
    ) -> SyncRun:
        engine = self.container.sync
        run = await engine.start(self.tenant_id, self.ids[platform], stream, sync_type)
        assert run is not None
        done = await engine.run_to_end(run.id)
        assert done is not None
        return done

    async def rows(self, sql: str, **params: Any) -> list[Any]:
        async with self.container.engine.connect() as conn:
            return list(await conn.execute(text(sql), params))

    async def order_ids(self, source: str) -> list[str]:
        rows = await self.rows("SELECT external_id FROM orders WHERE source = :s", s=source)
        return [r[0] for r in rows]
