"""Orders: batched upserts keyed by (tenant, source, external id); AI usage totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.domain.ai import TokenUsage
from easyflow.domain.commerce import Order, OrderItem, OrderStatus
from easyflow.storage import SqlUnitOfWorkFactory
from easyflow.storage.codecs import items_to_json
from easyflow.storage.tables import orders

from .helpers import T0, Tenancy


def _order(n: int, status: OrderStatus = OrderStatus.NEW, minutes: int = 0) -> Order:
    return Order(
        external_id=f"wb-{n}",
        number=f"N{n:05d}",
        status=status,
        total=Decimal("1499.90") + n,
        currency="RUB",
        updated_at=T0 + timedelta(minutes=minutes),
        source="wildberries",
        customer_name="Ann",
        customer_phone="+79990000000",
        items=(OrderItem("sku-1", "Green tea", 2, Decimal("749.95")),),
    )


async def _rows(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(orders))).scalar_one()


async def test_upsert_many_in_batches_then_again_with_new_statuses(
    uow_factory: SqlUnitOfWorkFactory, db_engine: AsyncEngine, tenancy: Tenancy
) -> None:
    a = tenancy.tenant_a
    async with uow_factory() as uow:
        assert await uow.orders.upsert_many(a, [_order(n) for n in range(2000)]) == 2000
        await uow.commit()

    shipped = [_order(n, OrderStatus.SHIPPED, minutes=5) for n in range(2000)]
    async with uow_factory() as uow:
        assert await uow.orders.upsert_many(a, shipped) == 2000
        await uow.commit()

    async with uow_factory() as uow:
        found = await uow.orders.find_by_numbers(a, ["N00000", "N01999", "N99999"])
    assert await _rows(db_engine) == 2000
    assert sorted(o.number for o in found) == ["N00000", "N01999"]
    assert {o.status for o in found} == {OrderStatus.SHIPPED}


async def test_an_order_reads_back_whole(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    order = _order(7)
    async with uow_factory() as uow:
        await uow.orders.upsert_many(tenancy.tenant_a, [order])
        (stored,) = await uow.orders.find_by_numbers(tenancy.tenant_a, [order.number])

    assert stored == order
    assert str(stored.total) == "1506.90"


async def test_a_stale_version_does_not_roll_an_order_back(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a = tenancy.tenant_a
    async with uow_factory() as uow:
        await uow.orders.upsert_many(a, [_order(1, OrderStatus.DELIVERED, minutes=10)])
        written = await uow.orders.upsert_many(a, [_order(1, OrderStatus.NEW, minutes=0)])
        (stored,) = await uow.orders.find_by_numbers(a, ["N00001"])

    assert written == 0 and stored.status is OrderStatus.DELIVERED


async def test_one_call_may_carry_the_same_order_twice(
    uow_factory: SqlUnitOfWorkFactory, db_engine: AsyncEngine, tenancy: Tenancy
) -> None:
    versions = [_order(1, OrderStatus.SHIPPED, minutes=5), _order(1, OrderStatus.NEW)]
    async with uow_factory() as uow:
        assert await uow.orders.upsert_many(tenancy.tenant_a, versions) == 1
        (stored,) = await uow.orders.find_by_numbers(tenancy.tenant_a, ["N00001"])
        await uow.commit()

    assert stored.status is OrderStatus.SHIPPED and await _rows(db_engine) == 1


async def test_orders_are_per_tenant(uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy) -> None:
    async with uow_factory() as uow:
        await uow.orders.upsert_many(tenancy.tenant_a, [_order(1)])
        await uow.orders.upsert_many(tenancy.tenant_b, [_order(1, OrderStatus.CANCELLED)])
        (mine,) = await uow.orders.find_by_numbers(tenancy.tenant_a, ["N00001"])
        (theirs,) = await uow.orders.find_by_numbers(tenancy.tenant_b, ["N00001"])
        assert await uow.orders.find_by_numbers(tenancy.tenant_a, []) == []

    assert (mine.status, theirs.status) == (OrderStatus.NEW, OrderStatus.CANCELLED)


async def test_ai_usage_totals_per_tenant(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        await uow.ai_usage.record(
            tenancy.tenant_a, None, "openai", "gpt-4o-mini", TokenUsage(10, 5)
        )
        await uow.ai_usage.record(tenancy.tenant_a, None, "local", "faq", TokenUsage(3, 2))
        totals = await uow.ai_usage.totals(tenancy.tenant_a)
        empty = await uow.ai_usage.totals(tenancy.tenant_b)

    assert totals == {
        "prompt_tokens": 13,
        "completion_tokens": 7,
        "total_tokens": 20,
        "requests": 2,
    }
    assert empty == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "requests": 0}


def _awkward_orders(version: int) -> list[Order]:
    """Values where carrying an order as JSON could store something else than binding it."""
    moscow = timezone(timedelta(hours=3))
    texts = ['quote " and \\ backslash', "tab\tnew\nline \x01", "Иван 🚚 ナ", "", "0042"]
    totals = ["0.0001", "123456789.0001", "100", "1E+2", "-5.5", "0"]
    return [
        Order(
            external_id=f"x-{n}",
            number=texts[n % len(texts)] or "N",
            status=list(OrderStatus)[(n + version) % len(OrderStatus)],
            total=Decimal(totals[n % len(totals)]) + version,
            currency="RUB",
            updated_at=datetime(2026, 3, 1, 12, 0, 0, n * 7919, tzinfo=moscow)
            + timedelta(days=version),
            source="ozon",
            customer_name=texts[(n + 1) % len(texts)],
            customer_phone=None if n % 2 else "79990001122",
            tracking_number=None if n % 3 else texts[(n + 2) % len(texts)],
            items=()
            if n % 4 == 0
            else (OrderItem(texts[n % len(texts)], "Чай", n, Decimal("1.10") * n),),
        )
        for n in range(12)
    ]


async def _stored_as_text(engine: AsyncEngine, tenant_id: int) -> list[tuple[str | None, ...]]:
    """Every column of the tenant's orders as the database's own text of what it stored."""
    columns = [c for c in orders.c if c.name not in ("id", "tenant_id")]
    query = (
        select(*(cast(c, Text) for c in columns))
        .where(orders.c.tenant_id == tenant_id)
        .order_by(orders.c.external_id)
    )
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]


async def test_orders_are_stored_as_binding_each_value_would_store_them(
    uow_factory: SqlUnitOfWorkFactory, db_engine: AsyncEngine, tenancy: Tenancy
) -> None:
    """The upserts carry a batch of orders to the database as one JSON document; what it
    stores must be what SQLAlchemy binding every value stores, to the byte: times in the
    dialect's format, totals with their scale, items as the same JSON, text unchanged."""
    by_json, by_binding = tenancy.tenant_a, tenancy.tenant_b
    for version in (0, 1):  # inserted, then every row updated
        orders_now = _awkward_orders(version)
        async with uow_factory() as uow:
            written = await uow.orders.upsert_tracking(by_json, orders_now)
            await uow.commit()
        assert len(written) == len(orders_now)
        async with db_engine.begin() as connection:
            await connection.execute(orders.delete().where(orders.c.tenant_id == by_binding))
            await connection.execute(
                orders.insert(),
                [
                    {
                        "tenant_id": by_binding,
                        "source": o.source,
                        "external_id": o.external_id,
                        "number": o.number,
                        "status": o.status.value,
                        "total": o.total,
                        "currency": o.currency,
                        "customer_name": o.customer_name,
                        "customer_phone": o.customer_phone,
                        "tracking_number": o.tracking_number,
                        "items": items_to_json(o.items),
                        "updated_at": o.updated_at,
                        "previous_status": None,
                    }
                    for o in orders_now
                ],
            )
        carried = await _stored_as_text(db_engine, by_json)
        bound = await _stored_as_text(db_engine, by_binding)
        status_column = [c.name for c in orders.c][2:].index("previous_status")
        if version:  # previous_status is the tracking's own: compare the rest
            carried = [r[:status_column] + r[status_column + 1 :] for r in carried]
            bound = [r[:status_column] + r[status_column + 1 :] for r in bound]
        assert carried == bound
    async with uow_factory() as uow:
        read = await uow.orders.find_by_numbers(by_json, list({o.number for o in orders_now}))
    assert {o.external_id: o for o in read} == {o.external_id: o for o in orders_now}


async def test_a_nul_in_a_text_is_stored_as_the_replacement_character(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    """PostgreSQL's text cannot hold a NUL and SQLite's JSON functions cut a string at one:
    both store U+FFFD in its place, and the rest of the batch is written. The text "\\u0000"
    (a backslash, then letters) is not a NUL and stays as it is."""
    nul = replace(
        _order(1),
        number="N\x001",
        customer_name="Ann\x00",
        items=(OrderItem("sku\x00", "tea", 1, Decimal("1")),),
    )
    literal = replace(_order(2), customer_name="\\u0000 and \\\\u0000")
    async with uow_factory() as uow:
        assert await uow.orders.upsert_many(tenancy.tenant_a, [nul, literal]) == 2
        await uow.commit()

    async with uow_factory() as uow:
        (stored,) = await uow.orders.find_by_numbers(tenancy.tenant_a, ["N\ufffd1"])
        (kept,) = await uow.orders.find_by_numbers(tenancy.tenant_a, [literal.number])
    assert stored.customer_name == "Ann\ufffd" and stored.items[0].sku == "sku\ufffd"
    assert kept.customer_name == "\\u0000 and \\\\u0000"
