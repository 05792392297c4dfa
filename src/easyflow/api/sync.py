"""Admin API of marketplace syncs (Bearer API key): trigger, backfill, reset, status, errors,
stock pushes and the stock levels the `stocks` stream read.

A triggered run is recorded at once and handed to the job layer; the answer is the run
(202), or 409 when the stream is already running.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from easyflow.api.deps import Container, RowId, TenantId
from easyflow.domain.commerce import StockChange
from easyflow.domain.errors import ConflictError, InvalidRequestError, NotFoundError
from easyflow.domain.sync import SyncRun, SyncType

router = APIRouter(prefix="/api/v1", tags=["sync"])
Stream = Path(pattern=r"^[a-z_]{1,32}$", description="a stream the platform declares")


class SyncIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["incremental", "full", "backfill"] = "incremental"
    since: datetime | None = Field(
        default=None, description="backfill from here (aware time; the platform's window caps it)"
    )


class SyncRunOut(BaseModel):
    id: int
    integration_id: int
    stream: str
    sync_type: str
    status: str
    since: datetime | None
    until: datetime
    pages: int
    records: int
    errors: int
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    lag_seconds: float | None = Field(description="age of the newest change known synced")

    @classmethod
    def of(cls, run: SyncRun) -> SyncRunOut:
        lag = None
        if run.status.value == "succeeded":
            lag = max(0.0, (datetime.now(UTC) - run.until).total_seconds())
        return cls(
            id=run.id,
            integration_id=run.integration_id,
            stream=run.stream,
            sync_type=run.sync_type.value,
            status=run.status.value,
            since=run.since,
            until=run.until,
            pages=run.pages,
            records=run.records,
            errors=run.errors,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
            lag_seconds=lag,
        )


class RecordErrorOut(BaseModel):
    external_id: str
    reason: str


@router.post(
    "/integrations/{integration_id}/sync/{stream}",
    response_model=SyncRunOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def trigger_sync(
    integration_id: RowId,
    tenant: TenantId,
    c: Container,
    body: SyncIn | None = None,
    stream: str = Stream,
) -> Any:
    """Start a run now (incremental, full, or a backfill from `since`)."""
    body = body or SyncIn()
    if body.since is not None and (body.since.tzinfo is None or body.type != "backfill"):
        raise InvalidRequestError("since: an aware time, and only with type backfill")
    run = await c.sync.start(tenant, integration_id, stream, SyncType(body.type), since=body.since)
    if run is None:
        raise ConflictError(f"a {stream} sync of integration {integration_id} is running")
    await c.sync_tasks.sync_step(run.id, run.attempts)
    return SyncRunOut.of(run)


@router.post(
    "/integrations/{integration_id}/sync/{stream}/reset", status_code=status.HTTP_204_NO_CONTENT
)
async def reset_sync(
    integration_id: RowId, tenant: TenantId, c: Container, stream: str = Stream
) -> Response:
    """Forget the stream's watermark (and stop its run): the next run reads everything."""
    await c.sync.reset(tenant, integration_id, stream)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/sync/status", response_model=list[SyncRunOut])
async def sync_status(
    tenant: TenantId, c: Container, integration_id: int | None = Query(None, ge=1)
) -> Any:
    """The last run of every stream of the tenant's integrations."""
    async with c.uow() as uow:
        runs = await uow.sync.last_runs(tenant, integration_id)
    return [SyncRunOut.of(r) for r in runs]


@router.get("/sync/runs/{run_id}/errors", response_model=list[RecordErrorOut])
async def run_errors(
    run_id: RowId, tenant: TenantId, c: Container, limit: int = Query(100, ge=1, le=1000)
) -> Any:
    """Records the run could not map, with the reason."""
    async with c.uow() as uow:
        run = await uow.sync.get_run(run_id)
        if run is None or run.tenant_id != tenant:
            raise NotFoundError(f"sync run {run_id} not found")
        return [
            RecordErrorOut(external_id=f.external_id, reason=f.reason)
            for f in await uow.sync.failures(run_id, limit)
        ]


class StockIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[0-9]+$",
        description="WB: the size's chrtID; Ozon: product_id",
    )
    quantity: int = Field(ge=0, le=999_999)
    warehouse_id: str | None = Field(default=None, max_length=32, pattern=r"^[0-9]+$")


class StockFailureOut(BaseModel):
    product_id: str
    code: str
    message: str


class StockReportOut(BaseModel):
    updated: list[str]
    failed: list[StockFailureOut]


@router.post("/integrations/{integration_id}/stocks", response_model=StockReportOut)
async def push_stocks(
    integration_id: RowId,
    tenant: TenantId,
    c: Container,
    body: list[StockIn] = Body(min_length=1, max_length=10_000),
) -> Any:
    """Set available stock per product (and warehouse); refused items come back with why."""
    changes = [StockChange(i.product_id, i.quantity, i.warehouse_id) for i in body]
    report = await c.sync.push_stocks(tenant, integration_id, changes)
    return StockReportOut(
        updated=list(report.updated),
        failed=[
            StockFailureOut(product_id=f.product_id, code=f.code, message=f.message)
            for f in report.failed
        ],
    )


class StockLevelOut(BaseModel):
    product_id: str = Field(description="WB: the size's chrtID; Ozon: product_id")
    warehouse_id: str = Field(description="the seller warehouse, or Ozon's stock type (fbo)")
    offer_id: str
    quantity: int = Field(description="available to sell")
    reserved: int


@router.get("/integrations/{integration_id}/stocks", response_model=list[StockLevelOut])
async def stock_levels(
    integration_id: RowId,
    tenant: TenantId,
    c: Container,
    limit: int = Query(1000, ge=1, le=10_000),
) -> Any:
    """Stock per product and warehouse as the last `stocks` sync read it."""
    async with c.uow() as uow:
        await uow.integrations.get(tenant, integration_id)  # 404 when not the tenant's
        levels = await uow.stocks.list(tenant, integration_id, limit=limit)
    return [
        StockLevelOut(
            product_id=s.product_id,
            warehouse_id=s.warehouse_id,
            offer_id=s.offer_id,
            quantity=s.quantity,
            reserved=s.reserved,
        )
        for s in levels
    ]
