"""The Wildberries and Ozon adapters against their emulators, without a database: the wire
details the sync relies on (hosts and token categories, Moscow time, boundary rows, per-item
stock errors, the platforms' error shapes)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from easyflow.domain.commerce import OrderFilters, OrderStatus, ProductFilters, StockChange
from easyflow.domain.errors import AuthenticationError, ConfigurationError
from easyflow.domain.sync import Page, SyncWindow
from easyflow.http import InMemoryRateLimiter, PlatformClient, RetryPolicy
from easyflow.observability.metrics import Metrics
from easyflow.platforms import ozon, wildberries
from easyflow.platforms.wildberries import token as wbtoken
from easyflow.platforms.wildberries.wire import parse_moscow, to_moscow
from easyflow.sandbox.ozon.emulator import DEMO_API_KEY, DEMO_CLIENT_ID
from easyflow.sandbox.server import Sandbox
from easyflow.sandbox.wildberries.emulator import DEMO_TOKEN

RETRY = RetryPolicy(attempts=2, initial_backoff=0.001, max_backoff=0.01)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    sb = Sandbox()
    for slug in ("wildberries", "ozon"):
        sb.emulators[slug].set_limits(None)  # type: ignore[attr-defined]
    yield sb
    await sb.aclose()


def adapter(sandbox: Sandbox, platform: str, credentials: dict[str, str], **settings: Any) -> Any:
    module: Any = wildberries if platform == "wildberries" else ozon
    client = PlatformClient(
        dataclasses.replace(module.SPEC, rate_limits=()),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app)),
        classify=module.classify,
        credentials=credentials,
        limiter=InMemoryRateLimiter(),
        metrics=Metrics(),
        base_url=f"http://sandbox/{platform}",
        retry=RETRY,
    )
    return module.create_adapter(client, settings)


def wb(sandbox: Sandbox, token: str = DEMO_TOKEN, **settings: Any) -> Any:
    return adapter(sandbox, "wildberries", {"token": token}, **settings)


def oz(sandbox: Sandbox, key: str = DEMO_API_KEY) -> Any:
    return adapter(sandbox, "ozon", {"client_id": DEMO_CLIENT_ID, "api_key": key})


async def whole(page: Page) -> Page:
    """A page that comes in parts as one page (what the engine writes part by part)."""
    if page.parts is None:
        return page
    async with contextlib.aclosing(page.parts) as reading:
        parts = [part async for part in reading]
    records = tuple(r for part in parts for r in part.records)
    failures = tuple(f for part in parts for f in part.failures)
    return Page(records, parts[-1].next, failures, parts[-1].high_water)


def test_statistics_times_are_moscow_time_without_an_offset() -> None:
    assert parse_moscow("2025-11-06T10:11:07") == datetime(2025, 11, 6, 7, 11, 7, tzinfo=UTC)
    assert to_moscow(datetime(2025, 11, 6, 7, 11, 7, 900_000, tzinfo=UTC)) == "2025-11-06T10:11:07"


async def test_a_token_without_the_category_is_refused_before_anything_is_sent(
    sandbox: Sandbox,
) -> None:
    emulator: Any = sandbox.emulators["wildberries"]
    issued = emulator.credentials({"categories": ["content"]})["token"]
    market = wb(sandbox, issued)
    before = emulator.stats["requests"]
    with pytest.raises(ConfigurationError, match="statistics"):
        await market.read_page("orders", SyncWindow(None, datetime.now(UTC)), None)
    assert emulator.stats["requests"] == before
    # The host refuses it too, should a client not check: 401 in the gateway's shape.
    forged = wbtoken.encode({"s": wbtoken.category_bits(["statistics"]), "sid": "x"})
    with pytest.raises(AuthenticationError):
        await wb(sandbox, forged).read_page("orders", SyncWindow(None, datetime.now(UTC)), None)


async def test_boundary_rows_repeat_on_the_wire_and_not_in_the_pages(sandbox: Sandbox) -> None:
    emulator: Any = sandbox.emulators["wildberries"]
    emulator.config.statistics_page_cap = 7
    now = time.time()
    emulator.orders.generate(30, now - 5, now)  # six orders a second: boundaries inside seconds
    market = wb(sandbox)
    window, cursor, seen, pages = SyncWindow(None, datetime.now(UTC)), None, [], 0
    while True:
        page = await whole(await market.read_page("orders", window, cursor))
        seen += [o.external_id for o in page.records]
        pages += 1
        if page.next is None:
            break
        cursor = page.next
    assert len(seen) == len(set(seen)) == 30 and pages > 30 // 7


async def test_fbs_orders_come_with_their_statuses(sandbox: Sandbox) -> None:
    emulator: Any = sandbox.emulators["wildberries"]
    emulator.orders.generate(40, time.time() - 3600, time.time())
    orders = await wb(sandbox).get_orders(OrderFilters(), limit=40)
    book = emulator.orders
    expected = {0: OrderStatus.NEW, 1: OrderStatus.ASSEMBLING, 2: OrderStatus.SHIPPED,
                3: OrderStatus.DELIVERED, -1: OrderStatus.CANCELLED}  # fmt: skip
    assert len(orders) == 40
    assert [o.status for o in orders] == [expected[book.stage(i)] for i in range(40)]
    assert all(o.total == book.price_kopecks(i) / 100 for i, o in enumerate(orders))
    new = await wb(sandbox).get_orders(OrderFilters(statuses=(OrderStatus.NEW,)))
    assert {o.status for o in new} == {OrderStatus.NEW}


async def test_card_paging_sends_with_photo_minus_one(sandbox: Sandbox) -> None:
    products = await wb(sandbox).get_products(ProductFilters())
    assert len(products) == 100 and len({p.external_id for p in products}) == 100
    assert products[0].stock_keys == ("200000000",)


async def test_wildberries_stock_updates_report_refused_items(sandbox: Sandbox) -> None:
    report = await wb(sandbox).update_stocks(
        [StockChange("200000001", 5), StockChange("200000002", 0), StockChange("-3", 1)]
    )
    assert report.updated == ("200000001", "200000002")
    assert [f.product_id for f in report.failed] == ["-3"]
    stocks = sandbox.emulators["wildberries"].products.stocks  # type: ignore[attr-defined]
    assert stocks == {("658434", "200000001"): 5, ("658434", "200000002"): 0}
    unknown = await wb(sandbox).update_stocks([StockChange("299999999", 1)])
    assert unknown.updated == () and unknown.failed[0].code == "NotFound"


async def test_ozon_stock_updates_batch_by_100_and_report_per_item_errors(
    sandbox: Sandbox,
) -> None:
    emulator: Any = sandbox.emulators["ozon"]
    emulator.products.count = 150
    changes = [StockChange(str(223_000_000 + j), j) for j in range(150)]
    changes.append(StockChange("1", 1))  # no such product
    before = emulator.stats["requests"]
    report = await oz(sandbox).update_stocks(changes)
    assert len(report.updated) == 150
    assert [(f.product_id, f.code) for f in report.failed] == [("1", "offer_id_not_found")]
    assert emulator.stats["requests"] - before == 1 + 2  # the warehouse list, two batches
    again = await oz(sandbox).update_stocks(changes[:1])  # the same pair within 30 s
    assert again.updated == () and again.failed[0].code == "TOO_MANY_REQUESTS"


async def test_ozon_refuses_a_wrong_key_with_its_rpc_status(sandbox: Sandbox) -> None:
    with pytest.raises(AuthenticationError, match="Invalid Api-Key"):
        await oz(sandbox, "wrong-key-0000000000").check()


async def test_ozon_postings_page_by_cursor_inside_the_status_window(sandbox: Sandbox) -> None:
    emulator: Any = sandbox.emulators["ozon"]
    now = time.time()
    emulator.orders.generate(250, now - 7200, now - 3600)
    emulator.orders.change(3, now - 60, stage=2)  # changed a minute ago
    market = oz(sandbox)
    window = SyncWindow(datetime.now(UTC) - timedelta(minutes=30), datetime.now(UTC))
    page = await market.read_page("orders", window, None)
    assert [o.external_id for o in page.records] == [emulator.posting_number(3)]
    assert page.next is None
    everything, cursor = [], None
    while True:
        page = await market.read_page("orders", SyncWindow(None, datetime.now(UTC)), cursor)
        everything += page.records
        if page.next is None:
            break
        cursor = page.next
    assert len({o.external_id for o in everything}) == 250


def test_pages_written_as_text_are_the_bytes_encoding_the_records_gives() -> None:
    """The emulators write their big list pages as text (fast); the wire must stay what
    encoding each record's dict gives, cancellations, edits and phones included."""
    from easyflow.sandbox.base import dumps
    from easyflow.sandbox.commerce_store import CANCELLED, SHIPPED
    from easyflow.sandbox.wildberries import wire as wb_wire

    sb = Sandbox()
    wb_emu: Any = sb.emulators["wildberries"]
    oz_emu: Any = sb.emulators["ozon"]
    now = time.time()
    for emu in (wb_emu, oz_emu):
        emu.orders.generate(3000, now - 20 * 86_400, now)
        emu.orders.generate(10, now - 5.5, now - 0.25)  # a second segment, sub-second times
        emu.orders.change(7, now - 3.7, stage=CANCELLED, phone='+7 999 "000" 11-22')
        emu.orders.change(11, now - 1, stage=SHIPPED)
    book = wb_emu.orders
    indices = list(book.scan(None, None))
    assert wb_wire.statistics_rows_json(book, indices) == dumps(
        [wb_wire.statistics_row(book, i) for i in indices]
    )
    assert wb_wire.statistics_rows_json(book, []) == b"[]"
    rendered = [oz_emu.posting_json(i) for i in range(oz_emu.orders.n)]
    assert rendered == [dumps(oz_emu.posting(i)).decode() for i in range(oz_emu.orders.n)]


async def _rows_of(body: bytes, chunk: int) -> list[Any]:
    """`statistics_rows` over `body` arriving in pieces of `chunk` bytes."""
    from easyflow.platforms.wildberries import adapter as wb_adapter

    async def arriving() -> AsyncIterator[bytes]:
        for start in range(0, len(body), chunk):
            yield body[start : start + chunk]

    return [row async for rows in wb_adapter.statistics_rows(arriving()) for row in rows]


async def test_statistics_rows_read_in_slices_are_the_rows_of_the_page(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A statistics page is parsed as it arrives, in slices cut at `},{`; a cut inside a
    string value (or a page that is not compact) hands the rest to the streaming parser, so
    every page reads as the whole JSON array would, however the network cuts it, and a page
    cut short still fails."""
    import json

    import ijson

    from easyflow.platforms.wildberries import adapter as wb_adapter

    monkeypatch.setattr(wb_adapter, "SLICE_BYTES", 40)
    monkeypatch.setattr(wb_adapter, "FALLBACK_ROWS", 3)
    rows = [{"srid": f"r{i}", "subject": "a},{b" if i % 7 == 3 else "Футболки"} for i in range(50)]
    compact = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
    spaced = json.dumps(rows, ensure_ascii=False, indent=1).encode()
    plain = json.dumps(rows[:30], separators=(",", ":")).encode()  # no cut inside a string
    for chunk in (1, 2, 7, 64, 1 << 20):
        for body in (compact, spaced, b" " + compact + b"\n", b"\n" + spaced + b" "):
            assert await _rows_of(body, chunk) == rows
        assert await _rows_of(plain, chunk) == rows[:30]
        assert await _rows_of(b"[]", chunk) == []
        assert await _rows_of(b" [ ] ", chunk) == []
        assert await _rows_of(b"", chunk) == []
        for cut in (compact[: len(compact) // 2], plain[:-1], plain[:-2], b"[{"):
            with pytest.raises(ijson.IncompleteJSONError):
                await _rows_of(cut, chunk)


def test_ozon_bodies_the_fast_parser_refuses_are_read_by_the_standard_one() -> None:
    from easyflow.http import RawResponse

    body = b'{"postings":[],"ratio":NaN,"big":123456789012345678901234567890}'
    payload = ozon.classify(RawResponse(200, {}, body))
    assert payload["big"] == 123456789012345678901234567890
    assert payload["ratio"] != payload["ratio"]  # NaN, as the standard parser reads it
    assert ozon.classify(RawResponse(200, {}, b'{"has_next":false}')) == {"has_next": False}
