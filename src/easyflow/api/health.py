"""Liveness, readiness, integration health (cached) and Prometheus metrics.

`/health/integrations` is public (probes, load balancers): statuses and counts per platform,
nothing that names a tenant's integration or its errors. A tenant reads its own integrations'
health, errors included, at `/api/v1/integrations/health` with its API key.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from easyflow.api.deps import Container, TenantId

router = APIRouter(tags=["health"])


@router.get("/health")
async def liveness() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def readiness(c: Container) -> JSONResponse:
    checks: dict[str, Any] = {}
    for name, check in c.readiness.items():
        try:
            await check()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {type(exc).__name__}"
    checks.setdefault("broker", "ok (in-process)")
    ready = all(v.startswith("ok") for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/health/integrations")
async def integrations(c: Container) -> dict[str, Any]:
    return dict(await c.health.report())


@router.get("/api/v1/integrations/health", tags=["admin"])
async def tenant_integrations(tenant: TenantId, c: Container) -> dict[str, Any]:
    """This tenant's active messenger integrations, each with its last check and error."""
    return dict(await c.health.tenant_report(tenant))


@router.get("/metrics", include_in_schema=False)
async def metrics(c: Container) -> Response:
    return Response(generate_latest(c.metrics.registry), media_type=CONTENT_TYPE_LATEST)
