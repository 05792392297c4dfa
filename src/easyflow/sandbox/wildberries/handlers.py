"""The Wildberries emulator's endpoints, each answering as its family does."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from easyflow.sandbox.base import dumps
from easyflow.sandbox.commerce_control import EncodedJsonChunks
from easyflow.sandbox.commerce_store import NEW
from easyflow.sandbox.wildberries.wire import (
    CHRT_BASE,
    MOSCOW,
    NM_BASE,
    STATUS,
    TASK_BASE,
    WAREHOUSE,
    card,
    family_error,
    parse_moscow,
    statistics_row,
    statistics_rows_chunks,
    task,
)

if TYPE_CHECKING:
    from easyflow.sandbox.wildberries.emulator import WildberriesSandbox

NEW_TASKS_CAP = 1000  # the real list is unpaged; the emulator keeps its answers bounded


def _error(family: str, status: int, message: str, code: str = "IncorrectParameter") -> Response:
    return Response(
        dumps(family_error(family, status, message, code)),
        status_code=status,
        media_type="application/json",
    )


async def statistics_orders(
    emu: WildberriesSandbox, request: Request, _body: Any, _p: dict[str, str]
) -> Any:
    date_from = request.query_params.get("dateFrom")
    if not date_from:
        return _error("statistics", 400, "dateFrom: field required")
    try:
        since = parse_moscow(date_from)
    except ValueError:
        return Response(
            dumps({"errors": "dateFrom: Value not validated"}),
            status_code=400,
            media_type="application/json",
        )
    book = emu.orders
    if request.query_params.get("flag") == "1":
        day = datetime.fromtimestamp(since, MOSCOW).date()
        return [
            statistics_row(book, i)
            for i in book.scan(None, None)
            if datetime.fromtimestamp(book.created_at(i), MOSCOW).date() == day
        ]
    rows = list(
        itertools.islice(book.scan(float(int(since)), None), emu.config.statistics_page_cap)
    )
    emu.stats["statistics_rows"] += len(rows)
    return EncodedJsonChunks(statistics_rows_chunks(book, rows, emu.config.statistics_chunk_rows))


async def new_tasks(emu: WildberriesSandbox, _r: Request, _b: Any, _p: dict[str, str]) -> Any:
    book = emu.orders
    found = [task(book, i) for i in range(book.n) if book.stage(i) == NEW]
    return {"orders": found[-NEW_TASKS_CAP:]}


async def tasks(emu: WildberriesSandbox, request: Request, _b: Any, _p: dict[str, str]) -> Any:
    q = request.query_params
    try:
        limit, nxt = int(q["limit"]), int(q["next"])
        date_from = int(q.get("dateFrom", emu.now() - 30 * 86_400))
        date_to = int(q.get("dateTo", emu.now()))
    except (KeyError, ValueError):
        return _error("marketplace", 400, "limit and next are required integers")
    if not 1 <= limit <= 1000 or date_to - date_from > 30 * 86_400:
        return _error("marketplace", 400, "limit 1..1000, dateFrom..dateTo at most 30 days")
    book, found, last = emu.orders, [], nxt
    for i in range(max(0, nxt - TASK_BASE + 1) if nxt else 0, book.n):
        if date_from <= book.created_at(i) <= date_to:
            found.append(task(book, i))
            last = TASK_BASE + i
            if len(found) >= limit:
                break
    return {"next": last, "orders": found}


async def statuses(emu: WildberriesSandbox, _r: Request, body: Any, _p: dict[str, str]) -> Any:
    ids = (body or {}).get("orders") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= 1000:
        return _error("marketplace", 400, "orders: 1..1000 ids")
    out = []
    for task_id in ids:
        i = int(task_id) - TASK_BASE if isinstance(task_id, int) else -1
        if 0 <= i < emu.orders.n:
            supplier, wb = STATUS.get(emu.orders.stage(i), ("new", "waiting"))
            out.append({"id": task_id, "supplierStatus": supplier, "wbStatus": wb})
    return {"orders": out}


async def cards(emu: WildberriesSandbox, _r: Request, body: Any, _p: dict[str, str]) -> Any:
    settings = (body or {}).get("settings") if isinstance(body, dict) else None
    if not isinstance(settings, dict):
        return _error("content", 400, "settings is required")
    cursor = settings.get("cursor") or {}
    limit = cursor.get("limit")
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        return _error("content", 400, "cursor.limit must be 1..100")
    with_photo = (settings.get("filter") or {}).get("withPhoto", 0)
    products = emu.products
    after = None
    if cursor.get("updatedAt") and cursor.get("nmID"):
        stamp = datetime.fromisoformat(str(cursor["updatedAt"]).replace("Z", "+00:00"))
        after = (round(stamp.timestamp(), 3), int(cursor["nmID"]) - NM_BASE)
    # Every emulated card has a photo: `withPhoto` 0 (the default!) lists none of them.
    listed = [] if with_photo == 0 else products.live()
    page = []
    for j in listed:
        if after is not None and (round(products.updated_at(j), 3), j) <= after:
            continue
        page.append(card(products, j))
        if len(page) >= limit:
            break
    for c in page:
        c["photos"] = [{"big": f"https://basket-10.wbbasket.ru/{c['nmID']}/big/1.webp"}]
    last = page[-1] if page else {}
    return {
        "cards": page,
        "cursor": {
            "updatedAt": last.get("updatedAt"),
            "nmID": last.get("nmID"),
            "total": len(page),
        },
    }


async def warehouses(_e: WildberriesSandbox, _r: Request, _b: Any, _p: dict[str, str]) -> Any:
    return [
        {
            "id": WAREHOUSE,
            "officeId": 123,
            "name": "ул. Троицкая, Подольск",
            "cargoType": 1,
            "deliveryType": 1,
            "isProcessing": False,
            "isDeleting": False,
        }
    ]


async def put_stocks(
    emu: WildberriesSandbox, _r: Request, body: Any, params: dict[str, str]
) -> Any:
    if params["warehouse"] != str(WAREHOUSE):
        return _error("marketplace", 404, "warehouse not found", "NotFound")
    stocks = (body or {}).get("stocks") if isinstance(body, dict) else None
    if not isinstance(stocks, list) or not 1 <= len(stocks) <= 1000:
        return _error("marketplace", 400, "stocks: 1..1000 items")
    key = "sku" if emu.config.legacy_sku else "chrtId"
    unknown = []
    for item in stocks:
        if not isinstance(item, dict) or not isinstance(item.get("amount", 0), int):
            return _error("marketplace", 400, "amount must be an integer")
        if item.get("amount", 0) > 100_000:
            return _error("marketplace", 400, "amount must be at most 100000")
        value = item.get(key)
        if value is None:
            continue  # names are not validated: a misspelt key is a silent 204
        j = int(value) - CHRT_BASE if key == "chrtId" else int(str(value)[2:] or -1)
        if not 0 <= j < emu.products.count or j in emu.products.removed:
            unknown.append({key: value, "amount": item.get("amount")})
    if unknown:
        body409 = [{"code": "NotFound", "message": "items not found", "data": unknown}]
        return Response(dumps(body409), status_code=409, media_type="application/json")
    for item in stocks:
        if item.get(key) is not None:
            emu.products.stocks[(params["warehouse"], str(item[key]))] = int(item["amount"])
    emu.stock_requests.append({"warehouse": params["warehouse"], "count": len(stocks)})
    return Response(status_code=204)


async def read_stocks(
    emu: WildberriesSandbox, _r: Request, body: Any, params: dict[str, str]
) -> Any:
    if params["warehouse"] != str(WAREHOUSE):
        return _error("marketplace", 404, "warehouse not found", "NotFound")
    ids = (body or {}).get("chrtIds") if isinstance(body, dict) else None
    if not isinstance(ids, list) or not 1 <= len(ids) <= 1000:
        return _error("marketplace", 400, "chrtIds: 1..1000 ids")
    if not all(isinstance(c, int) for c in ids):
        return _error("marketplace", 400, "chrtIds must be integers")
    stocks = emu.products.stocks
    return {
        "stocks": [
            {"chrtId": c, "amount": stocks.get((params["warehouse"], str(c)), 0)} for c in ids
        ]
    }


async def sales_funnel(emu: WildberriesSandbox, _r: Request, body: Any, _p: dict[str, str]) -> Any:
    period: Any = (body or {}).get("selectedPeriod") if isinstance(body, dict) else None
    try:
        start = datetime.fromisoformat(period["start"]).replace(tzinfo=MOSCOW).timestamp()
        end = datetime.fromisoformat(period["end"]).replace(tzinfo=MOSCOW).timestamp() + 86_400
    except (TypeError, KeyError, ValueError):
        return _error("analytics", 400, "selectedPeriod.start and .end are dates")
    book = emu.orders
    units: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for i in range(book.n):
        if start <= book.created_at(i) < end:
            row = units[book.product(i)]
            row[0] += 1
            row[1] += book.price_kopecks(i) // 100
    return {
        "data": {
            "products": [
                {
                    "product": {"nmId": NM_BASE + p, "vendorCode": f"art-{p}"},
                    "statistic": {"selected": {"orderCount": c, "orderSum": s}},
                }
                for p, (c, s) in sorted(units.items())
            ]
        }
    }


async def ping(emu: WildberriesSandbox, _r: Request, _b: Any, _p: dict[str, str]) -> Any:
    stamp = datetime.fromtimestamp(emu.now(), MOSCOW).isoformat(timespec="seconds")
    return {"TS": stamp, "Status": "OK"}


ROUTES: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("GET", "/api/v1/supplier/orders"): ("statistics", "statistics:orders", statistics_orders),
    ("GET", "/api/v3/orders/new"): ("marketplace", "marketplace", new_tasks),
    ("GET", "/api/v3/orders"): ("marketplace", "marketplace", tasks),
    ("POST", "/api/v3/orders/status"): ("marketplace", "marketplace", statuses),
    ("POST", "/content/v2/get/cards/list"): ("content", "content", cards),
    ("GET", "/api/v3/warehouses"): ("marketplace", "marketplace", warehouses),
    ("POST", "/api/analytics/v3/sales-funnel/products"): ("analytics", "analytics", sales_funnel),
}
for _host in ("marketplace", "statistics", "content", "analytics"):
    # Every host answers /ping (3 per 30 s): it checks the token and its category.
    ROUTES[("GET", f"/ping#{_host}")] = (_host, "ping", ping)

_PATTERNS = [
    (
        "PUT",
        re.compile(r"/api/v3/stocks/(?P<warehouse>\d+)"),
        ("marketplace", "marketplace", put_stocks),
    ),
    (
        "POST",
        re.compile(r"/api/v3/stocks/(?P<warehouse>\d+)"),
        ("marketplace", "marketplace", read_stocks),
    ),
]


def match(method: str, path: str) -> tuple[Any, dict[str, str]]:
    for verb, pattern, route in _PATTERNS:
        found = pattern.fullmatch(path)
        if verb == method and found:
            return route, found.groupdict()
    return None, {}
