"""Integration health, cached: probes read the cache, platforms are asked once per interval.

Per platform: "healthy" when every active integration's check passed, "unhealthy" when a
platform answered that something is wrong (bad token, refused), "error" when it could not be
reached. Overall "degraded" when any platform is not healthy.

Two views of one cached check. The public one (`report`, for load balancers and probes) has
per-platform statuses and counts only: an error text names a tenant's bot or its failure,
which is that tenant's business. A tenant sees its own integrations, with the errors, through
`tenant_report` behind its API key.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from easyflow.domain.errors import PlatformError, RetryableError, UnreadableSecretError
from easyflow.domain.sync import RunStatus, SyncRun
from easyflow.domain.tenancy import Capability, Integration
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, UnitOfWorkFactory

log = structlog.get_logger("easyflow.health")

HEALTHY, UNHEALTHY, ERROR = "healthy", "unhealthy", "error"
_RANK = {HEALTHY: 0, UNHEALTHY: 1, ERROR: 2}


@dataclass(frozen=True, slots=True)
class Check:
    """One integration's last check."""

    integration_id: int
    tenant_id: int
    platform: str
    name: str
    status: str
    error: str | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    checks: tuple[Check, ...]
    checked_at: str
    unreadable: bool = False  # the stored credentials could not be decrypted: nothing checked


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
        self._cached: Snapshot | None = None
        self._report: dict[str, Any] | None = None
        self._checked_at = 0.0
        self._refresh_lock = asyncio.Lock()
        self._concurrency = asyncio.Semaphore(10)  # many bots must not mean many sockets at once

    async def report(self) -> dict[str, Any]:
        """The public view: statuses and counts per platform, no error text, no ids."""
        await self._snapshot()
        assert self._report is not None  # set with the snapshot
        return self._report

    async def tenant_report(self, tenant_id: int) -> dict[str, Any]:
        """One tenant's integrations, with the platform's error where a check failed."""
        snapshot = await self._snapshot()
        mine = [c for c in snapshot.checks if c.tenant_id == tenant_id]
        worst = max((c.status for c in mine), key=_RANK.__getitem__, default=HEALTHY)
        return {
            "status": HEALTHY if worst == HEALTHY and not snapshot.unreadable else "degraded",
            "last_check": snapshot.checked_at,
            "integrations": [
                {
                    "id": c.integration_id,
                    "platform": c.platform,
                    "name": c.name,
                    "status": c.status,
                    "error": c.error,
                }
                for c in mine
            ],
        }

    async def _snapshot(self) -> Snapshot:
        if self._cached is None or time.monotonic() - self._checked_at > self._ttl:
            async with self._refresh_lock:  # one refresh however many probes arrive
                if self._cached is None or time.monotonic() - self._checked_at > self._ttl:
                    self._cached = await self._check_all()
                    self._report = self._public(self._cached)
                    self._checked_at = time.monotonic()
        return self._cached

    async def _check_all(self) -> Snapshot:
        now = datetime.now(UTC).isoformat()
        try:
            async with self._uow() as uow:
                integrations = await uow.integrations.list_all_active(
                    self._adapters.platforms_offering(Capability.MESSENGER)
                )
                marketplaces = await uow.integrations.list_all_active(
                    self._adapters.platforms_offering(Capability.MARKETPLACE)
                )
                runs = await uow.sync.last_runs(None) if marketplaces else []
        except UnreadableSecretError:
            # The start-up check refuses this; it happens when processes run different keys.
            log.error("integration health: stored credentials cannot be decrypted")
            return Snapshot((), now, unreadable=True)
        results = await asyncio.gather(*(self._check(i) for i in integrations))
        checks = tuple(
            Check(i.id, i.tenant_id, i.platform, i.name, status, error)
            for i, (status, error) in zip(integrations, results, strict=True)
        )
        # A marketplace is judged by its last sync runs, read from the database: its API is
        # rate-limited (Wildberries statistics: one call a minute), so no probe calls it.
        synced = tuple(
            Check(i.id, i.tenant_id, i.platform, i.name, *_by_sync_runs(i, runs))
            for i in marketplaces
        )
        return Snapshot(_one_per_integration(checks + synced), now)

    def _public(self, snapshot: Snapshot) -> dict[str, Any]:
        by_platform: dict[str, list[str]] = defaultdict(list)
        for check in snapshot.checks:
            by_platform[check.platform].append(check.status)
        platforms: dict[str, Any] = {}
        for platform, statuses in sorted(by_platform.items()):
            worst = max(statuses, key=_RANK.__getitem__)
            platforms[platform] = {
                "status": worst,
                "integrations": len(statuses),
                "by_status": dict(sorted(Counter(statuses).items())),
                "last_check": snapshot.checked_at,
            }
            self._metrics.integration_health.labels(platform).set(1 if worst == HEALTHY else 0)
        degraded = snapshot.unreadable or any(p["status"] != HEALTHY for p in platforms.values())
        report: dict[str, Any] = {
            "status": "degraded" if degraded else "healthy",
            "timestamp": snapshot.checked_at,
            "integrations": platforms,
        }
        if snapshot.unreadable:
            report["reason"] = "stored credentials cannot be decrypted with the configured keys"
        return report

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


def _one_per_integration(checks: Sequence[Check]) -> tuple[Check, ...]:
    """A platform that is both a messenger and a marketplace is probed and judged by its runs:
    one line for it, the worse of the two (errors joined)."""
    merged: dict[int, Check] = {}
    for check in checks:
        seen = merged.get(check.integration_id)
        if seen is None:
            merged[check.integration_id] = check
            continue
        worse = max(seen, check, key=lambda c: _RANK[c.status])
        errors = "; ".join(e for e in (seen.error, check.error) if e) or None
        merged[check.integration_id] = replace(worse, error=errors)
    return tuple(merged.values())


def _by_sync_runs(integration: Integration, runs: Sequence[SyncRun]) -> tuple[str, str | None]:
    """Unhealthy while the last run of any of its streams failed, with that run's error."""
    failed = [
        r for r in runs if r.integration_id == integration.id and r.status is RunStatus.FAILED
    ]
    if not failed:
        return HEALTHY, None
    reasons = "; ".join(f"{r.stream}: {r.error or 'failed'}" for r in failed)
    return UNHEALTHY, f"last sync failed ({reasons})"
