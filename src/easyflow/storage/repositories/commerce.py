"""Orders synced from the marketplaces and shops, and the AI tokens each tenant spent.

`upsert_many` writes a page of orders in batches of one `INSERT … ON CONFLICT DO UPDATE`
each, keyed by (tenant, source, external id), so re-reading a window is harmless. A row is
only overwritten by a version at least as new (`updated_at`): a late, stale page cannot
roll an order back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Row

from easyflow.domain.ai import TokenUsage
from easyflow.domain.commerce import Order, OrderStatus
from easyflow.storage.codecs import items_from_json, items_to_json, money
from easyflow.storage.repositories.base import Repository, batched, insert
from easyflow.storage.sqlite_driver import RIDES_ALONG
from easyflow.storage.tables import ai_usage
from easyflow.storage.tables import orders as orders_table

_UPDATED = (
    "number",
    "status",
    "total",
    "currency",
    "customer_name",
    "customer_phone",
    "tracking_number",
    "items",
    "updated_at",
)


def _order(row: Row) -> Order:
    return Order(
        external_id=row.external_id,
        number=row.number,
        status=OrderStatus(row.status),
        total=money(row.total),
        currency=row.currency,
        updated_at=row.updated_at,
        source=row.source,
        customer_name=row.customer_name,
        customer_phone=row.customer_phone,
        tracking_number=row.tracking_number,
        items=items_from_json(row.items),
    )


def _row(tenant_id: int, order: Order) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "source": order.source,
        "external_id": order.external_id,
        "number": order.number,
        "status": order.status.value,
        "total": order.total,
        "currency": order.currency,
        "customer_name": order.customer_name,
        "customer_phone": order.customer_phone,
        "tracking_number": order.tracking_number,
        "items": items_to_json(order.items),
        "updated_at": order.updated_at,
    }


def _latest(orders: Sequence[Order]) -> list[Order]:
    """One order per key, the newest: one statement may not touch a row twice."""
    latest: dict[tuple[str, str], Order] = {}
    for order in orders:
        key = (order.source, order.external_id)
        if key not in latest or order.updated_at >= latest[key].updated_at:
            latest[key] = order
    return list(latest.values())


class SqlOrderRepository(Repository):
    async def upsert_many(self, tenant_id: int, orders: Sequence[Order]) -> int:
        """Insert or update the orders; the number of rows written (stale versions skipped)."""
        insertion = insert(self._connection, orders_table)
        new = insertion.excluded
        statement = insertion.on_conflict_do_update(
            index_elements=[
                orders_table.c.tenant_id,
                orders_table.c.source,
                orders_table.c.external_id,
            ],
            set_={name: new[name] for name in _UPDATED},
            where=orders_table.c.updated_at <= new.updated_at,
        ).returning(orders_table.c.id)
        written = 0
        for batch in batched(_latest(orders)):
            rows = [_row(tenant_id, order) for order in batch]
            written += len((await self._connection.execute(statement, rows)).all())
        return written

    async def upsert_tracking(
        self, tenant_id: int, orders: Sequence[Order]
    ) -> list[tuple[str, str, OrderStatus | None]]:
        """`upsert_many` that also says, for each row it wrote, the status the row had before
        ((source, external id, None) for a new row), in the same single statement per batch:
        no lookup before the write, whatever the table's statistics say."""
        insertion = insert(self._connection, orders_table)
        new = insertion.excluded
        changes = {name: new[name] for name in _UPDATED}
        changes["previous_status"] = orders_table.c.status
        c = orders_table.c
        statement = insertion.on_conflict_do_update(
            index_elements=[c.tenant_id, c.source, c.external_id],
            set_=changes,
            where=c.updated_at <= new.updated_at,
        ).returning(c.source, c.external_id, c.previous_status)
        written: list[tuple[str, str, OrderStatus | None]] = []
        for batch in batched(_latest(orders)):
            rows = [_row(tenant_id, order) | {"previous_status": None} for order in batch]
            for row in await self._connection.execute(statement, rows):
                before = OrderStatus(row.previous_status) if row.previous_status else None
                written.append((row.source, row.external_id, before))
        return written

    async def find_by_numbers(self, tenant_id: int, numbers: Sequence[str]) -> list[Order]:
        if not numbers:
            return []
        query = (
            select(orders_table)
            .where(orders_table.c.tenant_id == tenant_id, orders_table.c.number.in_(list(numbers)))
            .order_by(orders_table.c.updated_at.desc(), orders_table.c.id)
        )
        return [_order(row) for row in await self._connection.execute(query)]


def usage_row(
    tenant_id: int, conversation_id: int | None, provider: str, model: str, usage: TokenUsage
) -> dict[str, Any]:
    """The `ai_usage` row of one AI reply."""
    return {
        "tenant_id": tenant_id,
        "conversation_id": conversation_id,
        "provider": provider,
        "model": model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cost": usage.cost,
        "currency": usage.currency,
    }


class SqlAiUsageRepository(Repository):
    async def record(
        self,
        tenant_id: int,
        conversation_id: int | None,
        provider: str,
        model: str,
        usage: TokenUsage,
    ) -> None:
        # Nobody reads its outcome: on SQLite it rides with the transaction's next hop.
        await self._connection.execute(
            ai_usage.insert()
            .execution_options(**{RIDES_ALONG: True})
            .values(**usage_row(tenant_id, conversation_id, provider, model, usage))
        )

    async def totals(self, tenant_id: int) -> dict[str, int]:
        """prompt_tokens, completion_tokens, total_tokens, requests."""
        query = select(
            func.coalesce(func.sum(ai_usage.c.prompt_tokens), 0).label("prompt_tokens"),
            func.coalesce(func.sum(ai_usage.c.completion_tokens), 0).label("completion_tokens"),
            func.coalesce(func.sum(ai_usage.c.total_tokens), 0).label("total_tokens"),
            func.count().label("requests"),
        ).where(ai_usage.c.tenant_id == tenant_id)
        row = (await self._connection.execute(query)).one()
        return {key: int(value) for key, value in row._mapping.items()}
