"""Integration health, cached: probes read the cache, platforms are asked once per interval.

Per platform: "healthy" when every active integration's check passed, "unhealthy" when a
platform answered that something is wrong (bad token, refused), "error" when it could not be
reached. Overall "degraded" when any platform is not healthy.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from easyflow.domain.errors import PlatformError, RetryableError
from easyflow.domain.tenancy import Integration, PlatformKind
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, UnitOfWorkFactory

HEALTHY, UNHEALTHY, ERROR = "healthy", "unhealthy", "error"
_RANK = {HEALTHY: 0, UNHEALTHY: 1, ERROR: 2}


class IntegrationHealth:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        adapters: Adapters,
        metrics: Metrics,
        ttl_seconds: float = 60.0,
    ) -> None:
        self._uow = uow
        self._adapters = adapters
        self._metrics = metrics
        self._ttl = ttl_seconds
        self._cached: dict[str, Any] | None = None
        self._checked_at = 0.0
        self._refresh_lock = asyncio.Lock()
        self._concurrency = asyncio.Semaphore(10)  # many bots must not mean many sockets at once

    async def report(self) -> dict[str, Any]:
        if self._cached is None or time.monotonic() - self._checked_at > self._ttl:
            async with self._refresh_lock:  # one refresh however many probes arrive
                if self._cached is None or time.monotonic() - self._checked_at > self._ttl:
                    self._cached = await self._check_all()
                    self._checked_at = time.monotonic()
        return self._cached

    async def _check_all(self) -> dict[str, Any]:
        async with self._uow() as uow:
            integrations = await uow.integrations.list_all_active(PlatformKind.MESSENGER)
        results = await asyncio.gather(*(self._check(i) for i in integrations))
        by_platform: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
        for integration, result in zip(integrations, results, strict=True):
            by_platform[integration.platform].append(result)
        now = datetime.now(UTC).isoformat()
        platforms: dict[str, Any] = {}
        for platform, checks in sorted(by_platform.items()):
            worst = max((status for status, _ in checks), key=_RANK.__getitem__)
            errors = sorted({e for _, e in checks if e})
            platforms[platform] = {
                "status": worst,
                "integrations": len(checks),
                "last_check": now,
                **({"errors": errors} if errors else {}),
            }
            self._metrics.integration_health.labels(platform).set(1 if worst == HEALTHY else 0)
        degraded = any(p["status"] != HEALTHY for p in platforms.values())
        return {
            "status": "degraded" if degraded else "healthy",
            "timestamp": now,
            "integrations": platforms,
        }

    async def _check(self, integration: Integration) -> tuple[str, str | None]:
        try:
            async with self._concurrency:
                messenger = self._adapters.messenger(integration)
                await asyncio.wait_for(messenger.identity(), timeout=10)
        except (RetryableError, TimeoutError) as exc:
            return ERROR, str(exc) or "timeout"
        except PlatformError as exc:
            return UNHEALTHY, str(exc)
        return HEALTHY, None
