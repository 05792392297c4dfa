"""Sync runs, stream watermarks, record errors, products and stock levels.

A run's row is its checkpoint: `page_cursor` moves only in the transaction that upserts the
page it follows, and only while the caller still holds the run's lease (`lease_owner`), so a
worker that lost its lease to another cannot move it. One running run per (integration,
stream) is a partial unique index; a scheduled run's `slot` is unique too, so two schedulers
starting the same slot insert one row between them.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.engine import Row

from easyflow.domain.commerce import Order, OrderStatus, Product, StockLevel
from easyflow.domain.sync import RecordFailure, RunStatus, SyncRun, SyncType, SyncWindow
from easyflow.ports import Recipient
from easyflow.storage.repositories.base import Repository, batched, insert
from easyflow.storage.repositories.commerce import SqlOrderRepository
from easyflow.storage.repositories.conversations import with_latest_conversation
from easyflow.storage.tables import (
    contacts,
    conversations,
    integrations,
    products,
    stock_levels,
    sync_errors,
    sync_runs,
)
from easyflow.storage.tables import sync_state as state
from easyflow.storage.types import utcnow

NEVER_CLAIMED_GRACE = timedelta(seconds=30)  # a new run's first step is on its way


def _run(row: Row) -> SyncRun:
    return SyncRun(
        id=row.id,
        tenant_id=row.tenant_id,
        integration_id=row.integration_id,
        stream=row.stream,
        sync_type=SyncType(row.sync_type),
        status=RunStatus(row.status),
        since=row.since,
        until=row.until,
        page_cursor=row.page_cursor,
        pages=row.pages,
        records=row.records,
        errors=row.errors,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        high_water=row.high_water,
        attempts=row.attempts,
    )


class SqlSyncRepository(Repository):
    async def start_run(
        self,
        tenant_id: int,
        integration_id: int,
        stream: str,
        sync_type: SyncType,
        window: SyncWindow,
        *,
        slot: str | None = None,
        page_cursor: dict[str, Any] | None = None,
    ) -> SyncRun | None:
        values = {
            "page_cursor": page_cursor,
            "tenant_id": tenant_id,
            "integration_id": integration_id,
            "stream": stream,
            "sync_type": sync_type.value,
            "status": RunStatus.RUNNING.value,
            "slot": slot,
            "since": window.since,
            "until": window.until,
            "pages": 0,
            "records": 0,
            "errors": 0,
            "attempts": 0,
            "started_at": utcnow(),
        }
        statement = (
            insert(self._connection, sync_runs)
            .values(**values)
            .on_conflict_do_nothing()
            .returning(*sync_runs.c)
        )
        row = (await self._connection.execute(statement)).first()
        return _run(row) if row is not None else None

    async def get_run(self, run_id: int) -> SyncRun | None:
        row = await self._connection.execute(select(sync_runs).where(sync_runs.c.id == run_id))
        found = row.first()
        return _run(found) if found is not None else None

    async def claim(
        self,
        run_id: int,
        owner: str,
        lease_until: datetime,
        now: datetime,
        ticket: int | None = None,
    ) -> bool:
        c = sync_runs.c
        conditions = [
            c.id == run_id,
            c.status == RunStatus.RUNNING.value,
            or_(c.lease_until.is_(None), c.lease_until < now),
        ]
        if ticket is not None:  # a task for a step that already ran is a no-op
            conditions.append(c.attempts == ticket)
        result = await self._connection.execute(
            update(sync_runs)
            .where(*conditions)
            .values(lease_owner=owner, lease_until=lease_until, attempts=c.attempts + 1)
        )
        return bool(result.rowcount)

    async def save_page(
        self,
        run_id: int,
        owner: str,
        page_cursor: dict[str, Any] | None,
        records: int,
        failures: Sequence[RecordFailure],
        high_water: datetime | None,
        lease_until: datetime,
        pages: int = 1,
    ) -> bool:
        c = sync_runs.c
        values: dict[str, Any] = {
            "page_cursor": page_cursor,
            "pages": c.pages + pages,
            "records": c.records + records,
            "errors": c.errors + len(failures),
            "lease_until": lease_until,
        }
        if high_water is not None:
            newer = or_(c.high_water.is_(None), c.high_water < high_water)
            values["high_water"] = case((newer, high_water), else_=c.high_water)
        result = await self._connection.execute(
            update(sync_runs)
            .where(c.id == run_id, c.lease_owner == owner, c.status == RunStatus.RUNNING.value)
            .values(**values)
            .returning(c.tenant_id)
        )
        row = result.first()
        if row is None:
            return False
        if failures:
            rows = [
                {
                    "tenant_id": row.tenant_id,
                    "run_id": run_id,
                    "external_id": f.external_id[:255],
                    "reason": f.reason[:2000],
                    "created_at": utcnow(),
                }
                for f in failures
            ]
            for batch in batched(rows):
                await self._connection.execute(sync_errors.insert(), list(batch))
        return True

    async def release(self, run_id: int, owner: str) -> None:
        c = sync_runs.c
        await self._connection.execute(
            update(sync_runs)
            .where(c.id == run_id, c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def finish(
        self, run_id: int, status: RunStatus, at: datetime, error: str | None = None
    ) -> SyncRun | None:
        c = sync_runs.c
        row = (
            await self._connection.execute(
                update(sync_runs)
                .where(c.id == run_id, c.status == RunStatus.RUNNING.value)
                .values(
                    status=status.value,
                    finished_at=at,
                    error=error,
                    lease_owner=None,
                    lease_until=None,
                )
                .returning(*sync_runs.c)
            )
        ).first()
        if row is None:
            return None
        run = _run(row)
        if status is RunStatus.SUCCEEDED:
            await self._set_watermark(run.tenant_id, run.integration_id, run.stream, run.until)
        await self._connection.execute(
            update(integrations)
            .where(integrations.c.id == run.integration_id)
            .values(last_sync_at=at, sync_status=status.value)
        )
        return run

    async def _set_watermark(
        self, tenant_id: int, integration_id: int, stream: str, watermark: datetime
    ) -> None:
        statement = insert(self._connection, state).values(
            tenant_id=tenant_id,
            integration_id=integration_id,
            stream=stream,
            watermark=watermark,
            updated_at=utcnow(),
        )
        statement = statement.on_conflict_do_update(
            index_elements=[state.c.integration_id, state.c.stream],
            set_={"watermark": statement.excluded.watermark, "updated_at": utcnow()},
        )
        await self._connection.execute(statement)

    async def count_attempt(self, run_id: int) -> int:
        query = select(sync_runs.c.attempts).where(sync_runs.c.id == run_id)
        return int((await self._connection.execute(query)).scalar() or 0)

    async def watermark(self, integration_id: int, stream: str) -> datetime | None:
        query = select(state.c.watermark).where(
            state.c.integration_id == integration_id, state.c.stream == stream
        )
        return (await self._connection.execute(query)).scalar()

    async def reset(self, tenant_id: int, integration_id: int, stream: str) -> None:
        await self._connection.execute(
            state.delete().where(
                state.c.tenant_id == tenant_id,
                state.c.integration_id == integration_id,
                state.c.stream == stream,
            )
        )
        c = sync_runs.c
        await self._connection.execute(
            update(sync_runs)
            .where(
                c.tenant_id == tenant_id,
                c.integration_id == integration_id,
                c.stream == stream,
                c.status == RunStatus.RUNNING.value,
            )
            .values(
                status=RunStatus.CANCELLED.value,
                finished_at=utcnow(),
                error="reset",
                lease_owner=None,
                lease_until=None,
            )
        )

    async def last_runs(
        self, tenant_id: int | None, integration_id: int | None = None
    ) -> list[SyncRun]:
        c = sync_runs.c
        latest = select(func.max(c.id)).group_by(c.integration_id, c.stream)
        if tenant_id is not None:
            latest = latest.where(c.tenant_id == tenant_id)
        if integration_id is not None:
            latest = latest.where(c.integration_id == integration_id)
        query = select(sync_runs).where(c.id.in_(latest)).order_by(c.integration_id, c.stream)
        return [_run(row) for row in await self._connection.execute(query)]

    async def last_started(self, integration_ids: Sequence[int]) -> dict[tuple[int, str], datetime]:
        if not integration_ids:
            return {}
        c = sync_runs.c
        query = (
            select(c.integration_id, c.stream, func.max(c.started_at))
            .where(c.integration_id.in_(list(integration_ids)))
            .group_by(c.integration_id, c.stream)
        )
        return {(r[0], r[1]): r[2] for r in await self._connection.execute(query)}

    async def stalled(self, now: datetime) -> list[int]:
        c = sync_runs.c
        query = select(c.id).where(
            c.status == RunStatus.RUNNING.value,
            or_(
                c.lease_until < now,
                and_(c.lease_until.is_(None), c.started_at < now - NEVER_CLAIMED_GRACE),
            ),
        )
        return [row.id for row in await self._connection.execute(query)]

    async def failures(self, run_id: int, limit: int = 100) -> list[RecordFailure]:
        query = (
            select(sync_errors.c.external_id, sync_errors.c.reason)
            .where(sync_errors.c.run_id == run_id)
            .order_by(sync_errors.c.id)
            .limit(limit)
        )
        return [
            RecordFailure(r.external_id, r.reason) for r in await self._connection.execute(query)
        ]

    async def recipients(self, tenant_id: int, phones: Sequence[str]) -> list[Recipient]:
        if not phones:
            return []
        query = with_latest_conversation(
            tenant_id,
            contacts.c.integration_id,
            contacts.c.id,
            conversations.c.id.label("conv"),
            conversations.c.chat_id,
            contacts.c.phone,
            contacts.c.language,
        ).where(contacts.c.phone.in_(list(phones)))
        return [
            Recipient(r.integration_id, r.id, r.conv, r.chat_id, r.phone, r.language)
            for r in await self._connection.execute(query)
        ]

    async def upsert_orders(
        self, tenant_id: int, batch: Sequence[Order]
    ) -> list[tuple[str, str, OrderStatus | None]]:
        return await SqlOrderRepository(self._connection).upsert_tracking(tenant_id, batch)


def _product_row(
    tenant_id: int, integration_id: int, product: Product, run_id: int
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "integration_id": integration_id,
        "source": product.source,
        "external_id": product.external_id,
        "offer_id": product.offer_id,
        "name": product.name,
        "barcodes": list(product.barcodes),
        "stock_keys": list(product.stock_keys),
        "archived": product.archived,
        "updated_at": product.updated_at,
        "seen_run_id": run_id,
        "deleted_at": None,
    }


class SqlProductRepository(Repository):
    async def upsert_many(
        self, tenant_id: int, integration_id: int, items: Sequence[Product], run_id: int
    ) -> int:
        insertion = insert(self._connection, products)
        new = insertion.excluded
        updated = (
            "offer_id",
            "name",
            "barcodes",
            "stock_keys",
            "archived",
            "updated_at",
            "seen_run_id",
            "deleted_at",
        )
        statement = insertion.on_conflict_do_update(
            index_elements=[
                products.c.tenant_id,
                products.c.integration_id,
                products.c.external_id,
            ],
            set_={name: new[name] for name in updated},
        )
        unique = {p.external_id: p for p in items}
        for batch in batched(list(unique.values())):
            rows = [_product_row(tenant_id, integration_id, p, run_id) for p in batch]
            await self._connection.execute(statement, rows)
        return len(unique)

    async def mark_unseen_deleted(self, tenant_id: int, integration_id: int, run_id: int) -> int:
        c = products.c
        result = await self._connection.execute(
            update(products)
            .where(
                c.tenant_id == tenant_id,
                c.integration_id == integration_id,
                c.deleted_at.is_(None),
                or_(c.seen_run_id.is_(None), c.seen_run_id != run_id),
            )
            .values(deleted_at=utcnow())
        )
        return int(result.rowcount or 0)

    async def list(self, tenant_id: int, integration_id: int, *, limit: int = 100) -> list[Product]:
        c = products.c
        query = (
            select(products)
            .where(
                c.tenant_id == tenant_id, c.integration_id == integration_id, c.deleted_at.is_(None)
            )
            .order_by(c.id)
            .limit(limit)
        )
        return [_product(r) for r in await self._connection.execute(query)]

    async def search(
        self, tenant_id: int, words: Sequence[str], *, limit: int = 5
    ) -> builtins.list[Product]:
        """The tenant's listed products (any marketplace) whose name or article holds one of
        `words`, case-insensitively; deleted and archived ones left out."""
        if not words:
            return []
        c = products.c
        patterns = [f"%{_escape_like(w.lower())}%" for w in words]
        matches = [func.lower(c.name).like(p, escape="\\") for p in patterns]
        matches += [func.lower(c.offer_id).like(p, escape="\\") for p in patterns]
        query = (
            select(products)
            .where(
                c.tenant_id == tenant_id,
                c.deleted_at.is_(None),
                c.archived.is_(False),
                or_(*matches),
            )
            .order_by(c.name, c.id)
            .limit(limit)
        )
        return [_product(r) for r in await self._connection.execute(query)]


def _product(r: Row) -> Product:
    return Product(
        r.external_id,
        r.offer_id,
        r.name,
        r.updated_at,
        r.source,
        tuple(r.barcodes),
        tuple(r.stock_keys),
        r.archived,
    )


def _escape_like(text: str) -> str:
    """`text` matched literally inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SqlStockLevelRepository(Repository):
    async def upsert_many(
        self, tenant_id: int, integration_id: int, levels: Sequence[StockLevel], run_id: int
    ) -> int:
        """Insert or update the levels, one statement per batch, keyed by (product,
        warehouse); the last of a key in `levels` wins."""
        insertion = insert(self._connection, stock_levels)
        new = insertion.excluded
        updated = ("source", "offer_id", "quantity", "reserved", "updated_at", "seen_run_id")
        c = stock_levels.c
        statement = insertion.on_conflict_do_update(
            index_elements=[c.tenant_id, c.integration_id, c.product_id, c.warehouse_id],
            set_={name: new[name] for name in updated},
        )
        unique = {(s.product_id, s.warehouse_id): s for s in levels}
        now = utcnow()
        for batch in batched(list(unique.values())):
            rows = [
                {
                    "tenant_id": tenant_id,
                    "integration_id": integration_id,
                    "source": level.source,
                    "product_id": level.product_id,
                    "warehouse_id": level.warehouse_id,
                    "offer_id": level.offer_id,
                    "quantity": level.quantity,
                    "reserved": level.reserved,
                    "updated_at": now,
                    "seen_run_id": run_id,
                }
                for level in batch
            ]
            await self._connection.execute(statement, rows)
        return len(unique)

    async def drop_unseen(self, tenant_id: int, integration_id: int, run_id: int) -> int:
        """Levels a complete read (`run_id`) did not return: the product or the warehouse is
        gone, so is its stock."""
        c = stock_levels.c
        result = await self._connection.execute(
            delete(stock_levels).where(
                c.tenant_id == tenant_id,
                c.integration_id == integration_id,
                or_(c.seen_run_id.is_(None), c.seen_run_id != run_id),
            )
        )
        return int(result.rowcount or 0)

    async def list(
        self, tenant_id: int, integration_id: int, *, limit: int = 1000
    ) -> builtins.list[StockLevel]:
        c = stock_levels.c
        query = (
            select(stock_levels)
            .where(c.tenant_id == tenant_id, c.integration_id == integration_id)
            .order_by(c.product_id, c.warehouse_id)
            .limit(limit)
        )
        return [
            StockLevel(r.product_id, r.warehouse_id, r.quantity, r.source, r.offer_id, r.reserved)
            for r in await self._connection.execute(query)
        ]
