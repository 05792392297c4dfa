"""The admin API of syncs: trigger, status, errors, reset; bad input is a 4xx with a reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from easyflow.app import create_app

from .market import Market


@pytest.fixture
async def api(market: Market) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container=market.container)
    app.state.container = market.container
    _, key = await market.container.tenants.create_api_key(market.tenant_id)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://hub",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        yield client


async def test_a_triggered_sync_runs_and_shows_in_the_status(
    market: Market, api: httpx.AsyncClient
) -> None:
    await market.seed("ozon", 120)
    await market.change("ozon", 3, status="unknown")
    r = await api.post(
        f"/api/v1/integrations/{market.ids['ozon']}/sync/orders", json={"type": "full"}
    )
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    await market.container.queue.wait_idle()
    status = (await api.get("/api/v1/sync/status")).json()
    [run] = [s for s in status if s["id"] == run_id]
    assert (run["status"], run["records"], run["errors"]) == ("succeeded", 119, 1)
    assert run["lag_seconds"] is not None
    errors = (await api.get(f"/api/v1/sync/runs/{run_id}/errors")).json()
    assert [e["external_id"] for e in errors] == [market.emulator("ozon").posting_number(3)]
    reset = await api.post(f"/api/v1/integrations/{market.ids['ozon']}/sync/orders/reset")
    assert reset.status_code == 204
    async with market.container.uow() as uow:
        assert await uow.sync.watermark(market.ids["ozon"], "orders") is None


BAD_REQUESTS = [
    ("/api/v1/integrations/{ozon}/sync/nothing", {}, 400),
    ("/api/v1/integrations/{ozon}/sync/orders", {"type": "sideways"}, 422),
    ("/api/v1/integrations/{ozon}/sync/orders", {"since": "2026-01-01T00:00:00Z"}, 400),
    ("/api/v1/integrations/{ozon}/sync/orders", {"type": "backfill", "since": "2026-01-01"}, 400),
    ("/api/v1/integrations/999/sync/orders", {}, 404),
    ("/api/v1/integrations/{ozon}/sync/Orders!", {}, 422),
]


async def test_bad_sync_requests_are_refused_with_a_reason(
    market: Market, api: httpx.AsyncClient
) -> None:
    for path, body, code in BAD_REQUESTS:
        r = await api.post(path.format(ozon=market.ids["ozon"]), json=body)
        assert r.status_code == code, (path, body, r.text)
        assert r.json().get("detail")
    async with market.container.uow() as uow:
        assert await uow.sync.last_runs(market.tenant_id) == []


async def test_a_second_trigger_while_running_is_a_conflict(
    market: Market, api: httpx.AsyncClient
) -> None:
    started = await market.container.sync.start(market.tenant_id, market.ids["ozon"], "orders")
    assert started is not None
    r = await api.post(f"/api/v1/integrations/{market.ids['ozon']}/sync/orders")
    assert r.status_code == 409 and "running" in r.json()["detail"]


async def test_stocks_pushed_through_the_api_report_refused_items(
    market: Market, api: httpx.AsyncClient
) -> None:
    body = [
        {"product_id": "200000001", "quantity": 3},
        {"product_id": "200000001", "quantity": 4},  # the last word for a pair wins
        {"product_id": "200000002", "quantity": 0},
    ]
    r = await api.post(f"/api/v1/integrations/{market.ids['wildberries']}/stocks", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {"updated": ["200000001", "200000002"], "failed": []}
    stocks = market.emulator("wildberries").products.stocks
    assert stocks == {("658434", "200000001"): 4, ("658434", "200000002"): 0}
    bad = await api.post(
        f"/api/v1/integrations/{market.ids['ozon']}/stocks",
        json=[{"product_id": "223000001", "quantity": -1}],
    )
    assert bad.status_code == 422
    refused = await api.post(
        f"/api/v1/integrations/{market.ids['ozon']}/stocks",
        json=[{"product_id": "1", "quantity": 1}],
    )
    assert refused.json()["failed"][0]["code"] == "offer_id_not_found"


async def test_stock_levels_read_by_the_stocks_sync_are_listed(
    market: Market, api: httpx.AsyncClient
) -> None:
    wb = market.ids["wildberries"]
    pushed = await api.post(
        f"/api/v1/integrations/{wb}/stocks", json=[{"product_id": "200000007", "quantity": 11}]
    )
    assert pushed.json()["failed"] == []
    r = await api.post(f"/api/v1/integrations/{wb}/sync/stocks", json={})
    assert r.status_code == 202, r.text
    await market.container.queue.wait_idle()
    levels = (await api.get(f"/api/v1/integrations/{wb}/stocks")).json()
    assert len(levels) == 100  # every card's one size, at the one seller warehouse
    [level] = [x for x in levels if x["product_id"] == "200000007"]
    assert level == {
        "product_id": "200000007",
        "warehouse_id": "658434",
        "offer_id": "art-7",
        "quantity": 11,
        "reserved": 0,
    }
    assert (await api.get("/api/v1/integrations/999/stocks")).status_code == 404
