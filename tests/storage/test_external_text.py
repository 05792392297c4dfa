"""A NUL from outside the hub is stored as U+FFFD, on both databases, and the write succeeds.

PostgreSQL's text and JSONB cannot hold a NUL: before, a product named with one failed its
page's write on every sync, and a model's reply with one was never recorded. SQLite stores
the NUL; the hub stores the same U+FFFD there, so both databases read back alike.
"""

from __future__ import annotations

from datetime import timedelta

from easyflow.domain.commerce import Product, StockLevel
from easyflow.domain.messaging import DeliveryStatus, MessageAuthor, MessageDirection, Sender
from easyflow.domain.sync import RecordFailure, RunStatus, SyncType, SyncWindow
from easyflow.storage import SqlUnitOfWorkFactory

from .helpers import T0, Tenancy

NUL, FFFD = "\x00", "\ufffd"


async def test_a_product_and_its_stock_with_a_nul_are_stored_and_found_again(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    product = Product(
        external_id=f"p{NUL}1",
        offer_id=f"tea{NUL}",
        name=f"Green{NUL}tea",
        updated_at=T0,
        source="ozon",
        barcodes=(f"46{NUL}01",),
        stock_keys=(f"k{NUL}",),
    )
    level = StockLevel(f"p{NUL}1", f"wh{NUL}", 5, source="ozon", offer_id=f"tea{NUL}")
    for _ in range(2):  # written again: the same row, found by the same (cleaned) key
        async with uow_factory() as uow:
            args = (tenancy.tenant_a, tenancy.integration_a)
            assert await uow.products.upsert_many(*args, [product], 1) == 1
            assert await uow.stocks.upsert_many(*args, [level], 1) == 1
            await uow.commit()

    async with uow_factory() as uow:
        (stored,) = await uow.products.list(tenancy.tenant_a, tenancy.integration_a)
        (stock,) = await uow.stocks.list(tenancy.tenant_a, tenancy.integration_a)
    assert (stored.external_id, stored.offer_id, stored.name) == (
        f"p{FFFD}1",
        f"tea{FFFD}",
        f"Green{FFFD}tea",
    )
    assert stored.barcodes == (f"46{FFFD}01",) and stored.stock_keys == (f"k{FFFD}",)
    assert (stock.product_id, stock.warehouse_id, stock.offer_id) == (
        f"p{FFFD}1",
        f"wh{FFFD}",
        f"tea{FFFD}",
    )


async def test_a_record_failure_and_a_run_error_with_a_nul_are_recorded(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        run = await uow.sync.start_run(
            tenancy.tenant_a,
            tenancy.integration_a,
            "products",
            SyncType.FULL,
            SyncWindow(None, T0),
        )
        assert run is not None
        lease = T0 + timedelta(minutes=5)
        assert await uow.sync.claim(run.id, "worker", lease, T0)
        failure = RecordFailure(f"p{NUL}2", f"price {NUL!r} is not a number: {NUL}")
        assert await uow.sync.save_page(run.id, "worker", None, 0, [failure], None, lease)
        finished = await uow.sync.finish(run.id, RunStatus.FAILED, T0, error=f"bad{NUL}body")
        await uow.commit()
    assert finished is not None and finished.error == f"bad{FFFD}body"
    async with uow_factory() as uow:
        (kept,) = await uow.sync.failures(run.id)
    assert kept == RecordFailure(f"p{FFFD}2", f"price {NUL!r} is not a number: {FFFD}")


async def test_a_reply_with_a_nul_is_recorded(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        _, conversation = await uow.conversations.upsert_with_contact(
            tenancy.tenant_a, tenancy.integration_a, Sender(external_id="42"), "42", T0
        )
        message = await uow.messages.add(
            tenancy.tenant_a,
            conversation.id,
            direction=MessageDirection.OUTBOUND,
            author=MessageAuthor.ASSISTANT,
            text=f"Your order{NUL} ships today",
            status=DeliveryStatus.SENT,
            platform_message_id=f"m{NUL}",
        )
        await uow.commit()
    async with uow_factory() as uow:
        (stored,) = await uow.messages.list(tenancy.tenant_a, conversation.id)
    assert stored == message
    assert (stored.text, stored.platform_message_id) == (
        f"Your order{FFFD} ships today",
        f"m{FFFD}",
    )
