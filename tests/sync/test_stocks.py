"""The `stocks` stream: stock per product and warehouse read from the emulators into
`stock_levels`, the exact set whatever fails on the way; and stock pushes read back."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from easyflow.domain.commerce import StockChange
from easyflow.domain.sync import RunStatus, SyncType
from easyflow.platforms.ozon import facts as ozon_facts
from easyflow.sandbox.ozon.emulator import PRODUCT_BASE
from easyflow.sandbox.ozon.emulator import WAREHOUSE as OZON_WAREHOUSE
from easyflow.sandbox.wildberries.wire import CHRT_BASE
from easyflow.sandbox.wildberries.wire import WAREHOUSE as WB_WAREHOUSE

from .market import Market

PLATFORMS = ["wildberries", "ozon"]
STOCKS_PATH = {
    "wildberries": f"/marketplace-api/api/v3/stocks/{WB_WAREHOUSE}",
    "ozon": "/v4/product/info/stocks",
}
# Enough products for three pages or more on each platform (WB: 100 cards a page).
PRODUCTS = {"wildberries": 250, "ozon": 250}


@pytest.fixture(autouse=True)
def small_ozon_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ozon pages of 100 products instead of 1000, so 250 products make three pages."""
    monkeypatch.setattr(ozon_facts, "STOCK_INFO_LIMIT", 100)


async def grow(market: Market, platform: str) -> None:
    emulator: Any = market.emulator(platform)
    missing = PRODUCTS[platform] - emulator.products.count
    r = await market.control.post(f"/_sandbox/{platform}/products", json={"count": missing})
    assert r.status_code == 201, r.text


def key(platform: str, j: int) -> str:
    return str((CHRT_BASE if platform == "wildberries" else PRODUCT_BASE) + j)


async def push(market: Market, platform: str) -> None:
    """Set a stock on every seventh product through the hub."""
    changes = [StockChange(key(platform, j), j % 50) for j in range(0, PRODUCTS[platform], 7)]
    report = await market.container.sync.push_stocks(
        market.tenant_id, market.ids[platform], changes
    )
    assert report.failed == () and len(report.updated) == len(changes)


def expected(market: Market, platform: str) -> set[tuple[str, str, int]]:
    """Every listed product's level at every warehouse, as the emulator holds it."""
    emulator: Any = market.emulator(platform)
    products, stocks = emulator.products, emulator.products.stocks
    levels = set()
    for j in range(products.count):
        if platform == "wildberries":
            if j in products.removed:
                continue  # in the trash: no longer listed
            amount = stocks.get((str(WB_WAREHOUSE), key(platform, j)), 0)
            levels.add((key(platform, j), str(WB_WAREHOUSE), amount))
        else:
            amount = stocks.get((str(OZON_WAREHOUSE), key(platform, j)), 0)
            levels.add((key(platform, j), str(OZON_WAREHOUSE), amount))
            levels.add((key(platform, j), "fbo", 0))
    return levels


async def stored(market: Market, platform: str) -> list[tuple[str, str, int]]:
    rows = await market.rows(
        "SELECT product_id, warehouse_id, quantity FROM stock_levels WHERE integration_id = :i",
        i=market.ids[platform],
    )
    return [(r[0], r[1], r[2]) for r in rows]


def small_steps(market: Market, pages_per_step: int) -> None:
    engine = market.container.sync
    engine.settings = dataclasses.replace(engine.settings, pages_per_step=pages_per_step)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_stocks_sync_reads_what_was_pushed_and_drops_what_is_gone(
    market: Market, platform: str
) -> None:
    await grow(market, platform)
    await push(market, platform)
    run = await market.sync(platform, "stocks")
    assert run.status is RunStatus.SUCCEEDED and run.pages >= 3 and run.errors == 0
    levels = await stored(market, platform)
    assert len(levels) == len(set(levels)) and set(levels) == expected(market, platform)
    assert any(quantity > 0 for _, _, quantity in levels)

    r = await market.control.delete(f"/_sandbox/{platform}/products/3")
    assert r.status_code == 200
    await market.sync(platform, "stocks")
    levels = await stored(market, platform)
    assert len(levels) == len(set(levels)) and set(levels) == expected(market, platform)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_stocks_sync_failing_after_page_k_ends_with_the_exact_set(
    market: Market, platform: str
) -> None:
    await grow(market, platform)
    await push(market, platform)
    small_steps(market, pages_per_step=1)
    engine = market.container.sync
    integration = market.ids[platform]
    run = await engine.start(market.tenant_id, integration, "stocks", SyncType.FULL)
    assert run is not None
    first = await engine.step(run.id)
    second = await engine.step(run.id, first.ticket)  # a second step resumes the checkpoint
    assert second.more and second.run is not None and second.run.pages == 2
    await market.fault(platform=platform, kind="http_error", status=503, path=STOCKS_PATH[platform])
    failed = (await engine.step(run.id, second.ticket)).run
    assert failed is not None and failed.status is RunStatus.FAILED
    assert 0 < len(await stored(market, platform)) < len(expected(market, platform))

    await market.control.delete("/_sandbox/faults")
    again = await engine.start(market.tenant_id, integration, "stocks", SyncType.FULL)
    assert again is not None
    done = await engine.run_to_end(again.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED
    levels = await stored(market, platform)
    assert len(levels) == len(set(levels)) and set(levels) == expected(market, platform)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_429_storms_and_5xx_on_stocks_end_with_the_exact_set(
    market: Market, platform: str
) -> None:
    await grow(market, platform)
    await push(market, platform)
    path = STOCKS_PATH[platform]
    await market.fault(platform=platform, kind="rate_limit", count=4, retry_after=0.01, path=path)
    await market.fault(platform=platform, kind="http_error", status=502, count=3, path=path)
    run = await market.sync(platform, "stocks")
    assert run.status is RunStatus.SUCCEEDED
    levels = await stored(market, platform)
    assert len(levels) == len(set(levels)) and set(levels) == expected(market, platform)
    stats = market.emulator(platform).stats
    assert stats["fault_rate_limit"] > 0 and stats["fault_http_error"] > 0


async def test_the_stocks_stream_is_scheduled_like_the_others(market: Market) -> None:
    for platform in PLATFORMS:
        streams = await market.container.sync.streams(market.tenant_id, market.ids[platform])
        assert [s.name for s in streams] == ["orders", "products", "stocks"]


async def test_a_wildberries_409_refuses_only_the_items_it_names(market: Market) -> None:
    await grow(market, "wildberries")
    good = [StockChange(key("wildberries", j), 9) for j in range(5)]
    unknown = StockChange(str(CHRT_BASE + 999_999), 1)
    report = await market.container.sync.push_stocks(
        market.tenant_id, market.ids["wildberries"], [*good[:2], unknown, *good[2:]]
    )
    assert report.updated == tuple(c.product_id for c in good)
    assert [(f.product_id, f.code) for f in report.failed] == [(unknown.product_id, "NotFound")]
    stocks = market.emulator("wildberries").products.stocks
    assert {k: v for k, v in stocks.items() if v == 9} == {
        (str(WB_WAREHOUSE), c.product_id): 9 for c in good
    }
