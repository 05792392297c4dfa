"""Orders synced from the marketplaces and shops, and the AI tokens each tenant spent.

`upsert_many` writes a page of orders in batches of one `INSERT … ON CONFLICT DO UPDATE`
each, keyed by (tenant, source, external id), so re-reading a window is harmless. A row is
only overwritten by a version at least as new (`updated_at`): a late, stale page cannot
roll an order back. A batch travels as one JSON document that the database unpacks
(`jsonb_array_elements`, `json_each`), stored exactly as bound values would be
(tests/storage/test_orders.py compares the two byte for byte).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    TIMESTAMP,
    ColumnElement,
    Numeric,
    String,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Row
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import TypeEngine

from easyflow.domain.ai import TokenUsage
from easyflow.domain.commerce import Order, OrderStatus
from easyflow.storage.codecs import items_from_json, items_to_json, money
from easyflow.storage.repositories.base import Repository, batched, insert_for
from easyflow.storage.sqlite_driver import RIDES_ALONG
from easyflow.storage.tables import ai_usage
from easyflow.storage.tables import orders as orders_table
from easyflow.storage.types import json_without_nul

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


def _latest(orders: Sequence[Order]) -> list[Order]:
    """One order per key, the newest: one statement may not touch a row twice."""
    latest: dict[tuple[str, str], Order] = {}
    for order in orders:
        key = (order.source, order.external_id)
        if key not in latest or order.updated_at >= latest[key].updated_at:
            latest[key] = order
    return list(latest.values())


# The order columns a write sets from each order, in the order of the JSON array that carries
# one order to the database (see `_order_upsert`).
_CARRIED = ("source", "external_id", *_UPDATED)
# PostgreSQL's `->>` gives text: the columns that are not text are cast to their type. The
# text columns are not (a cast to VARCHAR(n) would cut a value short): a value too long for
# its column fails the write, as it did bound.
_CAST: dict[str, TypeEngine[Any]] = {
    "total": Numeric(18, 4),
    "updated_at": TIMESTAMP(timezone=True),
}
JSON_ROWS = 2_000  # orders per statement: a JSON document of ~0.5 MB for typical orders


@functools.cache
def _order_upsert(dialect: str, *, tracking: bool) -> Executable:
    """INSERT … SELECT of the orders in one bound JSON array (one array per order, in
    `_CARRIED` order) … ON CONFLICT DO UPDATE, where the stored row is not newer: built once
    per dialect. One parameter instead of twelve per row: the rows are made by one orjson
    call rather than bound value by value (SQLAlchemy's per-row parameter work was most of a
    sync's write on the event loop). `tracking` also keeps each row's status before the
    write in `previous_status` and returns it; else the new rows' ids are returned."""
    tenant = bindparam("tenant_id", type_=orders_table.c.tenant_id.type)
    if dialect == "postgresql":
        document = cast(bindparam("rows", type_=String), JSONB)
        element = func.jsonb_array_elements(document).table_valued("value").c.value

        def carried(index: int, name: str) -> ColumnElement[Any]:
            if name == "items":
                return element.op("->")(literal_column(str(index)))
            text = element.op("->>")(literal_column(str(index)))
            return cast(text, _CAST[name]) if name in _CAST else text

    else:  # SQLite: the columns' affinity stores the values as a bound parameter would
        element = func.json_each(bindparam("rows", type_=String)).table_valued("value").c.value

        def carried(index: int, name: str) -> ColumnElement[Any]:
            return func.json_extract(element, literal_column(f"'$[{index}]'"))

    source = select(tenant, *(carried(i, name) for i, name in enumerate(_CARRIED)))
    # SQLite needs a WHERE in an INSERT … SELECT … ON CONFLICT (its parser's ambiguity).
    insertion = insert_for(dialect, orders_table).from_select(
        ["tenant_id", *_CARRIED], source.where(true())
    )
    new, c = insertion.excluded, orders_table.c
    changes: dict[str, Any] = {name: new[name] for name in _UPDATED}
    if tracking:
        changes["previous_status"] = c.status
    upsert = insertion.on_conflict_do_update(
        index_elements=[c.tenant_id, c.source, c.external_id],
        set_=changes,
        where=c.updated_at <= new.updated_at,
    )
    if tracking:
        return upsert.returning(c.source, c.external_id, c.previous_status)
    return upsert.returning(c.id)


def _as_json_rows(
    dialect: Dialect, tenant_id: int, orders: Sequence[Order]
) -> Iterator[dict[str, Any]]:
    """The parameters of `_order_upsert` for the newest version of each order, in batches.
    A time goes as the text the dialect stores (SQLite: SQLAlchemy's own format, naive UTC),
    a total as its exact decimal text."""
    stored_time = _stored_time(dialect)
    for batch in batched(_latest(orders), JSON_ROWS):
        rows = [
            (
                order.source,
                order.external_id,
                order.number,
                order.status.value,
                str(order.total),
                order.currency,
                order.customer_name,
                order.customer_phone,
                order.tracking_number,
                items_to_json(order.items),
                stored_time(order.updated_at),
            )
            for order in batch
        ]
        # A NUL in a text becomes U+FFFD (storage/types.py says why): the statement's JSON
        # functions would cut the text there on SQLite and fail the batch on PostgreSQL.
        yield {"tenant_id": tenant_id, "rows": json_without_nul(orjson.dumps(rows).decode())}


def _stored_time(dialect: Dialect) -> Callable[[datetime], str]:
    """An `UtcDateTime` value as the text the dialect is given for it: SQLAlchemy's own
    processing (a naive time refused, UTC), then, on PostgreSQL, ISO 8601 with the offset."""
    column_type = orders_table.c.updated_at.type
    as_bound = column_type.dialect_impl(dialect).bind_processor(dialect)
    assert as_bound is not None, "UtcDateTime always processes what it binds"
    if dialect.name == "postgresql":
        return lambda moment: as_bound(moment).isoformat()
    return as_bound


class SqlOrderRepository(Repository):
    async def upsert_many(self, tenant_id: int, orders: Sequence[Order]) -> int:
        """Insert or update the orders; the number of rows written (stale versions skipped)."""
        statement = _order_upsert(self._connection.dialect.name, tracking=False)
        written = 0
        for params in _as_json_rows(self._connection.dialect, tenant_id, orders):
            written += len((await self._connection.execute(statement, params)).all())
        return written

    async def upsert_tracking(
        self, tenant_id: int, orders: Sequence[Order]
    ) -> list[tuple[str, str, OrderStatus | None]]:
        """`upsert_many` that also says, for each row it wrote, the status the row had before
        ((source, external id, None) for a new row), in the same single statement per batch:
        no lookup before the write, whatever the table's statistics say."""
        statement = _order_upsert(self._connection.dialect.name, tracking=True)
        written: list[tuple[str, str, OrderStatus | None]] = []
        for params in _as_json_rows(self._connection.dialect, tenant_id, orders):
            for source, external_id, previous in await self._connection.execute(statement, params):
                written.append((source, external_id, OrderStatus(previous) if previous else None))
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
