"""`WildberriesMarketplace`: the Marketplace port over WB's API families.

Streams the sync reads:
- `orders`: statistics orders by `lastChangeDate` (every sales channel, cancellations
  included); the next page starts at the last row's `lastChangeDate`, so the boundary rows
  repeat and are dropped by `srid`; an answer with nothing newer than its `dateFrom` ends it.
  A page (up to 80 000 rows, tens of MB of JSON) is parsed as it arrives and handed to the
  engine in parts, so it is never all in memory, as bytes or as Python objects;
- `products`: content cards, keyset cursor (`updatedAt` + `nmID`), done when `total < limit`;
- `stocks`: the stock of every card's sizes (`chrtID`) at every seller warehouse: a page is one
  page of cards, then one `POST /api/v3/stocks/{warehouse}` per warehouse for its sizes (the
  platform reads stocks by size id only). The warehouses are listed once, on the first page,
  and travel in the cursor, so a run reads the same warehouses from start to end.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import ijson
import orjson

from easyflow.domain.commerce import (
    Order,
    OrderFilters,
    OrderStatus,
    Product,
    ProductFilters,
    SalesReport,
    StockChange,
    StockFailure,
    StockLevel,
    StockReport,
)
from easyflow.domain.errors import ConfigurationError, NotFoundError, RejectedError
from easyflow.domain.sync import (
    CursorKind,
    Page,
    Parts,
    RecordFailure,
    SyncStream,
    SyncWindow,
)
from easyflow.http import BodyStream, PlatformClient
from easyflow.platforms.wildberries import facts, token, wire
from easyflow.platforms.wildberries.errors import ConflictItems

STREAMS = (
    SyncStream(
        "orders",
        CursorKind.TIMESTAMP,
        "order",
        lookback=timedelta(hours=2),  # statistics refresh every 30 min; late rows land behind
        every=timedelta(minutes=15),
        max_window=timedelta(days=90),  # statistics keep 90 days
    ),
    SyncStream("products", CursorKind.KEYSET, "product", every=timedelta(hours=1)),
    SyncStream("stocks", CursorKind.KEYSET, "stock", every=timedelta(minutes=30)),
)


SLICE_BYTES = 512 * 1024  # about 700 statistics rows parsed at a time
FALLBACK_ROWS = 1_000  # rows handed on at a time by the streaming parser
_BLANK = b" \t\r\n"


async def statistics_rows(chunks: AsyncIterable[bytes]) -> AsyncIterator[list[Any]]:
    """The rows of a statistics page (a JSON array of flat objects) as its body arrives, a
    slice of rows at a time: never the whole page, as bytes or as Python objects.

    The array is cut after about SLICE_BYTES at the next `},{` and each slice parsed whole
    with orjson, three times faster than a streaming parser on the sync's busiest thread. A
    cut that falls inside a string value leaves that slice's string unclosed, so orjson
    refuses it: from the first slice it refuses on (and for a body that is not a compact
    array at all), the rest is read by the streaming parser (ijson), which also fails a page
    cut short. An empty body is a page with no rows."""
    source = aiter(chunks)
    buffer = bytearray()
    async for chunk in source:
        buffer += chunk
        if len(buffer.lstrip(_BLANK)) >= 2:
            break
    head = bytes(buffer.lstrip(_BLANK))
    if not head:
        return
    if not head.startswith(b"[{"):
        async for rows in _streamed(head, source):
            yield rows
        return
    buffer = bytearray(head[1:])  # from the first row's "{"
    while True:
        taken = 0
        while (cut := buffer.find(b"},{", taken + SLICE_BYTES)) >= 0:
            try:
                rows = orjson.loads(b"[" + buffer[taken : cut + 1] + b"]")
            except orjson.JSONDecodeError:
                async for rows in _streamed(b"[" + buffer[taken:], source):
                    yield rows
                return
            yield rows
            taken = cut + 2
        del buffer[:taken]
        if len(buffer) > 2 * SLICE_BYTES:  # no compact separator: never the rest at once
            async for rows in _streamed(b"[" + buffer, source):
                yield rows
            return
        chunk = await anext(source, b"")
        if not chunk:  # the end (an empty chunk before it would only send the rest to ijson)
            break
        buffer += chunk
    last = bytes(buffer.rstrip(_BLANK))
    try:
        if not last.endswith(b"}]"):
            raise ValueError("not the end of a compact array")
        rows = orjson.loads(b"[" + last)
    except ValueError:  # orjson.JSONDecodeError is one
        async for rows in _streamed(b"[" + last, source):
            yield rows
        return
    yield rows


class _Rest:
    """What ijson reads from: the bytes already received, then the rest of the body."""

    def __init__(self, head: bytes, source: AsyncIterator[bytes]) -> None:
        self._head = head
        self._source = source

    async def read(self, size: int) -> bytes:
        if size == 0:  # ijson asks for nothing first, to learn whether it reads bytes
            return b""
        if self._head:
            head, self._head = self._head, b""
            return head
        return await anext(self._source, b"")


async def _streamed(head: bytes, source: AsyncIterator[bytes]) -> AsyncIterator[list[Any]]:
    rows: list[Any] = []
    async for row in ijson.items(_Rest(head, source), "item"):
        rows.append(row)
        if len(rows) >= FALLBACK_ROWS:
            yield rows
            rows = []
    if rows:
        yield rows


class WildberriesMarketplace:
    platform = wire.SOURCE

    def __init__(self, client: PlatformClient, settings: dict[str, Any]) -> None:
        self._token = token.decode(client.credential("token"))
        self._clients = {
            family: client.on_host(_host(client.base_url, h)) for family, h in facts.HOSTS.items()
        }
        self._warehouse = settings.get("warehouse_id")

    def streams(self) -> tuple[SyncStream, ...]:
        return STREAMS

    async def check(self) -> None:
        """Prove the token once, when the integration is connected: expiry from its payload,
        validity and category from one `/ping` (which must not be polled: 3 per 30 s)."""
        expires = self._token.expires_at
        if expires is not None and expires <= datetime.now(expires.tzinfo):
            raise ConfigurationError("the Wildberries token has expired", platform="wildberries")
        usable = [f for f in facts.HOSTS if f in self._token.categories]
        if not usable:
            raise ConfigurationError(
                "the Wildberries token has none of the categories the hub uses "
                f"({', '.join(facts.HOSTS)})",
                platform="wildberries",
            )
        await self._call(usable[0], "ping", path="/ping", http_method="GET")

    async def _call(self, family: str, method: str, *, write: bool = False, **kw: Any) -> Any:
        token.require(self._token, family, write=write)
        scope = {family: method}
        return await self._clients[family].call(method, scopes=scope, **kw)

    async def _open(self, family: str, method: str, **kw: Any) -> BodyStream:
        """A read whose answer is read as it arrives (a statistics page: tens of MB)."""
        token.require(self._token, family, write=False)
        scope = {family: method}
        return await self._clients[family].open_stream(method, scopes=scope, **kw)

    # -- sync streams

    async def read_page(
        self, stream: str, window: SyncWindow, cursor: dict[str, Any] | None
    ) -> Page:
        if stream == "orders":
            return await self._orders_page(window, cursor)
        if stream == "products":
            return await self._cards_page(cursor)
        if stream == "stocks":
            return await self._stocks_page(cursor)
        raise NotFoundError(f"wildberries has no stream {stream!r}")

    async def _orders_page(self, window: SyncWindow, cursor: dict[str, Any] | None) -> Page:
        since = window.since or window.until - STREAMS[0].max_window
        date_from = (cursor or {}).get("dateFrom") or wire.to_moscow(since)
        boundary = set((cursor or {}).get("seen") or ())
        body = await self._open(
            "statistics",
            "supplier/orders",
            path="/api/v1/supplier/orders",
            params={"dateFrom": date_from, "flag": 0},
        )
        parts = self._order_parts(body, date_from, boundary)
        return Page((), None, parts=Parts(parts, body.aclose))

    async def _order_parts(
        self, body: BodyStream, date_from: str, boundary: set[str]
    ) -> AsyncGenerator[Page, None]:
        """The page's rows parsed as its body arrives (never the whole page, as bytes or as
        Python objects) and mapped in parts of `STATS_PART_ROWS`, so the first part is
        written while the rest is still on the wire; the last part carries the next cursor:
        the newest `lastChangeDate` seen and the rows at it, which the next page repeats."""
        start = wire.parse_moscow(date_from)
        newest, last_seen = start, []
        records: list[Order] = []
        failures: list[RecordFailure] = []
        async for rows in statistics_rows(body):
            for row in rows:
                srid = str(row.get("srid", "")) if isinstance(row, dict) else ""
                try:
                    changed = wire.parse_moscow(str(row["lastChangeDate"]))
                    if srid in boundary and changed <= start:
                        continue  # the boundary row of the previous page, again
                    records.append(wire.statistics_order(row, changed))
                except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                    failures.append(RecordFailure(srid or "?", f"unmappable row: {exc!r}"))
                    continue
                if changed > newest:
                    newest, last_seen = changed, [srid]
                elif changed == newest:
                    last_seen.append(srid)
            if len(records) >= facts.STATS_PART_ROWS:
                yield Page(tuple(records), None, tuple(failures))
                records, failures = [], []
        if newest <= start:
            yield Page(tuple(records), None, tuple(failures), None)
        else:
            nxt = {"dateFrom": wire.to_moscow(newest), "seen": last_seen}
            yield Page(tuple(records), nxt, tuple(failures), newest)

    async def _cards_page(self, cursor: dict[str, Any] | None) -> Page:
        request_cursor: dict[str, Any] = {"limit": facts.CARDS_LIMIT, **(cursor or {})}
        body = {"settings": {"cursor": request_cursor, "filter": {"withPhoto": -1}}}
        answer = await self._call(
            "content", "cards/list", path="/content/v2/get/cards/list?locale=ru", json=body
        )
        records, failures = [], []
        for card in answer.get("cards") or []:
            try:
                records.append(wire.card_product(card))
            except (KeyError, ValueError, TypeError) as exc:
                failures.append(RecordFailure(str(card.get("nmID", "?")), repr(exc)))
        got = answer.get("cursor") or {}
        done = int(got.get("total", 0)) < facts.CARDS_LIMIT
        nxt = None if done else {"updatedAt": got.get("updatedAt"), "nmID": got.get("nmID")}
        return Page(tuple(records), nxt, tuple(failures))

    async def _stocks_page(self, cursor: dict[str, Any] | None) -> Page:
        cursor = cursor or {}
        warehouses = cursor.get("warehouses")
        if warehouses is None:
            answer = await self._call(
                "marketplace", "warehouses", path="/api/v3/warehouses", http_method="GET"
            )
            warehouses = [str(w["id"]) for w in answer or [] if not w.get("isDeleting")]
        cards = await self._cards_page(cursor.get("cards"))
        sizes = {key: p.offer_id for p in cards.records for key in p.stock_keys}
        keys = [int(k) for k in sizes if k.isdigit()]
        records: list[StockLevel] = []
        for warehouse in warehouses:
            for start in range(0, len(keys), facts.STOCKS_PER_REQUEST):
                answer = await self._call(
                    "marketplace",
                    "stocks/read",
                    path=f"/api/v3/stocks/{warehouse}",
                    json={"chrtIds": keys[start : start + facts.STOCKS_PER_REQUEST]},
                )
                for row in answer.get("stocks") or []:
                    key = str(row.get("chrtId"))
                    records.append(
                        StockLevel(
                            key,
                            warehouse,
                            int(row.get("amount") or 0),
                            wire.SOURCE,
                            sizes.get(key, ""),
                        )
                    )
        nxt = None if cards.next is None else {"cards": cards.next, "warehouses": warehouses}
        return Page(tuple(records), nxt, cards.failures)

    # -- the seed's methods

    async def get_orders(self, filters: OrderFilters, limit: int = 100) -> list[Order]:
        """FBS orders with their statuses; `statuses=(NEW,)` reads the new assembly tasks."""
        if filters.statuses == (OrderStatus.NEW,):
            answer = await self._call(
                "marketplace", "orders/new", path="/api/v3/orders/new", http_method="GET"
            )
            tasks = list(answer.get("orders") or [])
        else:
            tasks = await self._tasks(filters, limit)
        statuses = await self._statuses([int(t["id"]) for t in tasks])
        orders = wire.fbs_orders(tasks, statuses)
        if filters.statuses:
            orders = [o for o in orders if o.status in filters.statuses]
        return orders[:limit]

    async def _tasks(self, filters: OrderFilters, limit: int) -> list[dict[str, Any]]:
        until = filters.until or datetime.now().astimezone()
        since = max(filters.since or until - timedelta(days=30), until - timedelta(days=30))
        params: dict[str, Any] = {
            "limit": min(limit, facts.ORDERS_PER_REQUEST),
            "next": 0,
            "dateFrom": int(since.timestamp()),
            "dateTo": int(until.timestamp()),
        }
        tasks: list[dict[str, Any]] = []
        while len(tasks) < limit:
            answer = await self._call(
                "marketplace", "orders", path="/api/v3/orders", http_method="GET", params=params
            )
            page = answer.get("orders") or []
            if not page:
                break
            tasks += page
            params["next"] = answer.get("next", 0)
        return tasks

    async def _statuses(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), facts.ORDERS_PER_REQUEST):
            chunk = ids[start : start + facts.ORDERS_PER_REQUEST]
            answer = await self._call(
                "marketplace",
                "orders/status",
                path="/api/v3/orders/status",
                json={"orders": chunk},
            )
            found.update({int(s["id"]): s for s in answer.get("orders") or []})
        return found

    async def get_order_details(self, order_id: str) -> Order:
        """WB has no single-order call: the order is found among the last 30 days' tasks."""
        for order in await self.get_orders(OrderFilters(), limit=10_000):
            if order.external_id == order_id:
                return order
        raise NotFoundError(f"wildberries order {order_id} not found in the last 30 days")

    async def get_products(self, filters: ProductFilters) -> list[Product]:
        products: list[Product] = []
        cursor: dict[str, Any] | None = None
        while True:
            page = await self._cards_page(cursor)
            products += [p for p in page.records if _wanted(p, filters)]
            if page.next is None:
                return products
            cursor = page.next

    async def update_product_stock(self, product_id: str, quantity: int) -> StockReport:
        return await self.update_stocks([StockChange(product_id, quantity)])

    async def update_stocks(self, changes: Sequence[StockChange]) -> StockReport:
        """PUT per warehouse, 1000 sizes (`chrtId`) a request; a 409 names refused items."""
        updated: list[str] = []
        failed: list[StockFailure] = []
        by_warehouse: dict[str, list[StockChange]] = {}
        for change in changes:
            if not 0 <= change.quantity <= facts.MAX_AMOUNT or not change.product_id.isdigit():
                failed.append(
                    StockFailure(change.product_id, "invalid", "amount 0..100000, numeric chrtId")
                )
                continue
            warehouse = change.warehouse_id or await self._default_warehouse()
            by_warehouse.setdefault(warehouse, []).append(change)
        for warehouse, items in by_warehouse.items():
            for start in range(0, len(items), facts.STOCKS_PER_REQUEST):
                batch = items[start : start + facts.STOCKS_PER_REQUEST]
                ok, bad = await self._put_stocks(warehouse, batch)
                updated += ok
                failed += bad
        return StockReport(tuple(updated), tuple(failed))

    async def _put_stocks(
        self, warehouse: str, batch: Sequence[StockChange]
    ) -> tuple[list[str], list[StockFailure]]:
        """One PUT; a 409 refuses the whole request but names the items at fault in its
        `data`, so those are reported and the rest sent once more (a 409 costs 10 requests
        of the limit: never more than one retry)."""
        failed: list[StockFailure] = []
        for attempt in range(2):
            body = {"stocks": [{"chrtId": int(c.product_id), "amount": c.quantity} for c in batch]}
            ids = [c.product_id for c in batch]
            try:
                await self._call(
                    "marketplace",
                    "stocks",
                    write=True,
                    path=f"/api/v3/stocks/{warehouse}",
                    http_method="PUT",
                    json=body,
                )
            except ConflictItems as exc:
                named = _refused(exc)
                rest = [c for c in batch if c.product_id not in named]
                if attempt or not named or len(rest) == len(batch):
                    return [], failed + [StockFailure(i, _code(exc), str(exc)) for i in ids]
                failed += [StockFailure(i, named[i], str(exc)) for i in ids if i in named]
                if not rest:
                    return [], failed
                batch = rest
                continue
            except RejectedError as exc:
                return [], failed + [StockFailure(i, "rejected", str(exc)) for i in ids]
            return ids, failed
        return [], failed  # not reached: the second attempt returns

    async def _default_warehouse(self) -> str:
        if self._warehouse is None:
            answer = await self._call(
                "marketplace", "warehouses", path="/api/v3/warehouses", http_method="GET"
            )
            if not answer:
                raise ConfigurationError("no seller warehouse on Wildberries", platform="wb")
            self._warehouse = str(answer[0]["id"])
        return str(self._warehouse)

    async def get_analytics(self, date_from: datetime, date_to: datetime) -> SalesReport:
        body = {
            "selectedPeriod": {
                "start": date_from.date().isoformat(),
                "end": date_to.date().isoformat(),
            },
            "nmIds": [],
            "brandNames": [],
            "subjectIds": [],
            "tagIds": [],
            "skipDeletedNm": False,
            "orderBy": {"field": "orders", "mode": "desc"},
            "limit": 1000,
            "offset": 0,
        }
        answer = await self._call(
            "analytics", "sales-funnel", path="/api/analytics/v3/sales-funnel/products", json=body
        )
        rows = []
        for item in (answer.get("data") or {}).get("products") or []:
            stats = (item.get("statistic") or {}).get("selected") or {}
            rows.append(
                (
                    str((item.get("product") or {}).get("vendorCode", "")),
                    int(stats.get("orderCount", 0)),
                    Decimal(str(stats.get("orderSum", 0))),
                )
            )
        return SalesReport(
            date_from,
            date_to,
            sum(r[1] for r in rows),
            sum(r[1] for r in rows),
            sum((r[2] for r in rows), Decimal(0)),
            by_product=tuple(rows),
        )


def _host(base_url: str, host: str) -> str:
    """Production: `https://{family}.wildberries.ru`; a proxy or the sandbox serving every
    family under one base names the family in the path instead."""
    if "{family}" in base_url:
        return base_url.replace("{family}", host)
    return f"{base_url}/{host}"


def _wanted(product: Product, filters: ProductFilters) -> bool:
    if filters.offer_ids and product.offer_id not in filters.offer_ids:
        return False
    text = (filters.text or "").lower()
    return not text or text in product.offer_id.lower() or text in product.name.lower()


def _refused(exc: ConflictItems) -> dict[str, str]:
    """The items a stocks 409 names (by `chrtId`, or `sku` on the legacy key), with the code."""
    named: dict[str, str] = {}
    for error in exc.items:
        for item in error.get("data") or []:
            key = item.get("chrtId", item.get("sku")) if isinstance(item, dict) else None
            if key is not None:
                named[str(key)] = str(error.get("code") or "conflict")
    return named


def _code(exc: ConflictItems) -> str:
    return str(exc.items[0].get("code", "conflict")) if exc.items else "conflict"
