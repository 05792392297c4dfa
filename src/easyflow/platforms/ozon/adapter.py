"""`OzonMarketplace`: the Marketplace port over the Ozon Seller API.

Streams the sync reads:
- `orders`: FBS postings (`/v4/posting/fbs/list`) whose status changed inside the run's
  window (`filter.last_changed_status_date`), cursor paging while `has_next`;
- `products`: `/v3/product/list` by `last_id`, done on a short page or an empty `last_id`;
- `stocks`: `/v4/product/info/stocks` by `cursor`, every product's stock by type: an `fbs`
  row at one seller warehouse is stored at that warehouse, other rows (`fbo`: Ozon's own
  warehouses, reported as one total) under their type. Quantity is what can be sold
  (`present − reserved`), the number `/v2/products/stocks` sets.

Every call carries `Client-Id` beside the `Api-Key` the client adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from easyflow.domain.commerce import (
    Order,
    OrderFilters,
    Product,
    ProductFilters,
    SalesReport,
    StockChange,
    StockFailure,
    StockReport,
)
from easyflow.domain.errors import ConfigurationError, NotFoundError
from easyflow.domain.sync import CursorKind, Page, RecordFailure, SyncStream, SyncWindow
from easyflow.http import PlatformClient
from easyflow.platforms.ozon import facts, wire

STREAMS = (
    SyncStream(
        "orders",
        CursorKind.TIMESTAMP,
        "order",
        lookback=timedelta(minutes=30),  # status dates are exact; a margin for clock skew
        every=timedelta(minutes=15),
        max_window=timedelta(days=facts.MAX_SPAN_DAYS),
        # The list sorts both ways: the engine reads a run from both ends at once.
        from_newest={"sort_dir": "DESC"},
    ),
    SyncStream("products", CursorKind.KEYSET, "product", every=timedelta(hours=1)),
    SyncStream("stocks", CursorKind.KEYSET, "stock", every=timedelta(minutes=30)),
)


class OzonMarketplace:
    platform = wire.SOURCE

    def __init__(self, client: PlatformClient, settings: dict[str, Any]) -> None:
        self._client = client
        self._headers = {"Client-Id": client.credential("client_id")}
        self._warehouse = settings.get("warehouse_id")

    def streams(self) -> tuple[SyncStream, ...]:
        return STREAMS

    async def check(self) -> None:
        """Prove Client-Id and Api-Key with one cheap read."""
        await self._call("/v2/warehouse/list", {})

    async def _call(self, method: str, body: Any, *, stocks: bool = False) -> Any:
        scopes = {"stocks": "stocks"} if stocks else None
        return await self._client.call(method, json=body, headers=self._headers, scopes=scopes)

    async def read_page(
        self, stream: str, window: SyncWindow, cursor: dict[str, Any] | None
    ) -> Page:
        if stream == "orders":
            return await self._postings_page(window, cursor)
        if stream == "products":
            return await self._products_page(window, cursor)
        if stream == "stocks":
            return await self._stocks_page(cursor)
        raise NotFoundError(f"ozon has no stream {stream!r}")

    def _posting_filter(self, since: datetime | None, until: datetime) -> dict[str, Any]:
        span = timedelta(days=facts.MAX_SPAN_DAYS)
        to = wire.to_time(until, up=True)
        flt: dict[str, Any] = {"since": wire.to_time(until - span), "to": to}
        if since is not None:
            flt["last_changed_status_date"] = {"from": wire.to_time(since), "to": to}
        return flt

    async def _postings_page(self, window: SyncWindow, cursor: dict[str, Any] | None) -> Page:
        # A read from the newest end (the engine's second reader) keeps its direction in
        # its cursor: an Ozon cursor continues the listing in the order it was made in.
        direction = (cursor or {}).get("sort_dir", "ASC")
        body = {
            "filter": self._posting_filter(window.since, window.until),
            "limit": facts.POSTINGS_LIMIT,
            "cursor": (cursor or {}).get("cursor", ""),
            "sort_dir": direction,
            "with": {"analytics_data": False, "financial_data": False, "barcodes": False},
        }
        answer = await self._call("/v4/posting/fbs/list", body)
        records, failures = [], []
        for posting in answer.get("postings") or []:
            try:
                records.append(wire.posting_order(posting))
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                failures.append(RecordFailure(str(posting.get("posting_number", "?")), str(exc)))
        nxt: dict[str, Any] | None = None
        if answer.get("has_next"):
            nxt = {"cursor": answer["cursor"]}
            if direction != "ASC":
                nxt["sort_dir"] = direction
        return Page(tuple(records), nxt, tuple(failures))

    async def _products_page(self, window: SyncWindow, cursor: dict[str, Any] | None) -> Page:
        body = {
            "filter": {"visibility": "ALL"},
            "last_id": (cursor or {}).get("last_id", ""),
            "limit": facts.PRODUCTS_LIMIT,
        }
        result = (await self._call("/v3/product/list", body)).get("result") or {}
        items = result.get("items") or []
        records, failures = [], []
        for item in items:
            try:
                records.append(wire.list_product(item, window.until))
            except (KeyError, ValueError, TypeError) as exc:
                failures.append(RecordFailure(str(item.get("product_id", "?")), repr(exc)))
        last_id = result.get("last_id") or ""
        done = len(items) < facts.PRODUCTS_LIMIT or not last_id
        return Page(tuple(records), None if done else {"last_id": last_id}, tuple(failures))

    async def _stocks_page(self, cursor: dict[str, Any] | None) -> Page:
        body = {
            "cursor": (cursor or {}).get("cursor", ""),
            "filter": {"visibility": "ALL"},
            "limit": facts.STOCK_INFO_LIMIT,
        }
        answer = await self._call("/v4/product/info/stocks", body)
        items = answer.get("items") or []
        records, failures = [], []
        for item in items:
            try:
                records += wire.stock_levels(item)
            except (KeyError, ValueError, TypeError) as exc:
                failures.append(RecordFailure(str(item.get("product_id", "?")), repr(exc)))
        nxt = answer.get("cursor") or ""
        done = len(items) < facts.STOCK_INFO_LIMIT or not nxt
        return Page(tuple(records), None if done else {"cursor": nxt}, tuple(failures))

    # -- the seed's methods

    async def get_orders(self, filters: OrderFilters, limit: int = 100) -> list[Order]:
        until = filters.until or datetime.now(UTC)
        flt = self._posting_filter(None, until)
        if filters.since:
            flt["since"] = wire.to_time(max(filters.since, until - timedelta(days=364)))
        if filters.statuses:
            flt["statuses"] = [s for st in filters.statuses for s in facts.API_STATUS[st]]
        orders: list[Order] = []
        cursor = ""
        while len(orders) < limit:
            body = {
                "filter": flt,
                "limit": min(facts.POSTINGS_LIMIT, limit),
                "cursor": cursor,
                "sort_dir": "ASC",
            }
            answer = await self._call("/v4/posting/fbs/list", body)
            orders += [wire.posting_order(p) for p in answer.get("postings") or []]
            if not answer.get("has_next"):
                break
            cursor = answer["cursor"]
        return orders[:limit]

    async def get_order_details(self, order_id: str) -> Order:
        answer = await self._call("/v3/posting/fbs/get", {"posting_number": order_id})
        return wire.posting_order(answer["result"])

    async def get_products(self, filters: ProductFilters) -> list[Product]:
        products: list[Product] = []
        cursor: dict[str, Any] | None = None
        now = datetime.now(UTC)
        while True:
            page = await self._products_page(SyncWindow(None, now), cursor)
            products += [
                p for p in page.records if not filters.offer_ids or p.offer_id in filters.offer_ids
            ]
            if page.next is None:
                return products
            cursor = page.next

    async def update_product_stock(self, product_id: str, quantity: int) -> StockReport:
        return await self.update_stocks([StockChange(product_id, quantity)])

    async def update_stocks(self, changes: Sequence[StockChange]) -> StockReport:
        """100 product×warehouse pairs a call; refused items come back inside the 200."""
        updated: list[str] = []
        failed: list[StockFailure] = []
        valid = []
        for change in changes:
            if not 0 <= change.quantity <= facts.MAX_STOCK or not change.product_id.isdigit():
                failed.append(StockFailure(change.product_id, "invalid", "stock 0..999999"))
            else:
                valid.append(change)
        for start in range(0, len(valid), facts.STOCKS_PER_REQUEST):
            batch = valid[start : start + facts.STOCKS_PER_REQUEST]
            stocks = [
                {
                    "product_id": int(c.product_id),
                    "stock": c.quantity,
                    "warehouse_id": int(c.warehouse_id or await self._default_warehouse()),
                }
                for c in batch
            ]
            answer = await self._call("/v2/products/stocks", {"stocks": stocks}, stocks=True)
            for item in answer.get("result") or []:
                pid = str(item.get("product_id"))
                if item.get("updated"):
                    updated.append(pid)
                for error in item.get("errors") or []:
                    failed.append(
                        StockFailure(pid, str(error.get("code")), str(error.get("message", "")))
                    )
        return StockReport(tuple(updated), tuple(failed))

    async def _default_warehouse(self) -> str:
        if self._warehouse is None:
            answer = await self._call("/v2/warehouse/list", {})
            warehouses = answer.get("result") or []
            if not warehouses:
                raise ConfigurationError("no Ozon warehouse", platform="ozon")
            self._warehouse = str(warehouses[0]["warehouse_id"])
        return str(self._warehouse)

    async def get_analytics(self, date_from: datetime, date_to: datetime) -> SalesReport:
        body = {
            "date_from": date_from.date().isoformat(),
            "date_to": date_to.date().isoformat(),
            "metrics": ["revenue", "ordered_units"],
            "dimension": ["sku"],
            "limit": 1000,
            "offset": 0,
        }
        result = (await self._call("/v1/analytics/data", body)).get("result") or {}
        rows = []
        for row in result.get("data") or []:
            dims, metrics = row.get("dimensions") or [{}], row.get("metrics") or [0, 0]
            rows.append((str(dims[0].get("id", "")), int(metrics[1]), Decimal(str(metrics[0]))))
        units = sum(r[1] for r in rows)
        return SalesReport(
            date_from,
            date_to,
            units,
            units,
            sum((r[2] for r in rows), Decimal(0)),
            by_product=tuple(rows),
        )
