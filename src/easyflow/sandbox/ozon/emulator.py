"""The Ozon emulator: auth, limits, faults and the handlers."""

from __future__ import annotations

import base64
import functools
import json
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from easyflow.sandbox.base import SandboxContext, dumps, whole_seconds
from easyflow.sandbox.buckets import Buckets, Limit
from easyflow.sandbox.commerce_control import EncodedJson, MarketplaceSandbox
from easyflow.sandbox.commerce_store import (
    ASSEMBLING,
    CANCELLED,
    DELIVERED,
    NEW,
    SHIPPED,
    OrderBook,
    ProductBook,
)
from easyflow.sandbox.faults import stall

DEMO_CLIENT_ID = "123456"
DEMO_API_KEY = "sandbox-0000-ozon-demo-key-00000000"
WAREHOUSE = 22142605386000
PRODUCT_BASE = 223_000_000
SKU_BASE = 1_904_000_000
STATUS = {
    NEW: "awaiting_packaging",
    ASSEMBLING: "awaiting_deliver",
    SHIPPED: "delivering",
    DELIVERED: "delivered",
    CANCELLED: "cancelled",
}
DEFAULT_LIMITS = {"global": Limit(1.0, 50, 50), "stocks": Limit(60.0, 80, 80)}
PAIR_INTERVAL = 30.0  # one stock update per product×warehouse pair per 30 s


@dataclass
class OzonConfig:
    keys: dict[str, str] = field(default_factory=lambda: {DEMO_CLIENT_ID: DEMO_API_KEY})
    limits: dict[str, Limit] | None = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    products: int = 100


_DELIVERY_METHOD = {
    "id": WAREHOUSE,
    "name": "Доставка Ozon самостоятельно, Софьино",
    "warehouse_id": WAREHOUSE,
    "warehouse": "Софьино",
    "tpl_provider_id": 24,
    "tpl_provider": "Доставка Ozon",
}
_DELIVERY = (
    '"delivery_method":'
    + json.dumps(_DELIVERY_METHOD, ensure_ascii=False, separators=(",", ":"))
    + ',"tracking_number":"","tpl_integration_type":"ozon",'
)
_FLAGS = (
    '"available_actions":[],"is_express":false,"is_multibox":false,"multi_box_qty":1,'
    '"parent_posting_number":""'
)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@functools.lru_cache(maxsize=4096)
def _utc_day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86_400))


def _iso_fast(t: float) -> str:
    """`_iso(t)` without building a datetime (half of a page's time went there): the same
    rounding to microseconds (half to even), then the milliseconds; the date from a cache."""
    whole = math.floor(t)
    micro = round((t - whole) * 1e6)
    if micro >= 1_000_000:
        whole, micro = whole + 1, micro - 1_000_000
    day, second = divmod(whole, 86_400)
    hours, second = divmod(second, 3600)
    minutes, second = divmod(second, 60)
    return f"{_utc_day(day)}T{hours:02d}:{minutes:02d}:{second:02d}.{micro // 1000:03d}Z"


def _time(text: Any) -> float:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()


def _cursor(key: tuple[float, int]) -> str:
    return base64.b64encode(json.dumps({"t": key[0], "i": key[1]}).encode()).decode()


def _uncursor(text: str) -> tuple[float, int]:
    data = json.loads(base64.b64decode(text))
    return float(data["t"]), int(data["i"])


class RpcError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class OzonSandbox(MarketplaceSandbox):
    slug = "ozon"

    def __init__(self, config: OzonConfig, ctx: SandboxContext) -> None:
        self.config = config
        self._ctx = ctx
        self._app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])]
        )
        self._init_state()

    def _init_state(self) -> None:
        self.keys = dict(self.config.keys)
        self.orders = OrderBook(seed=1, products=self.config.products)
        self.products = ProductBook(count=self.config.products, t0=float(int(self.now()) - 86_400))
        self.buckets = Buckets(self.config.limits or {})
        self.stats: dict[str, int] = Counter()

    def credentials(self, body: dict[str, Any]) -> dict[str, Any]:
        client_id = str(body.get("client_id") or 100000 + len(self.keys))
        api_key = f"sandbox-{len(self.keys):04d}-ozon-key-{client_id:0>12}"
        self.keys[client_id] = api_key
        return {"client_id": client_id, "api_key": api_key}

    def posting_number(self, i: int) -> str:
        return f"{208245774 + i:010d}-{i % 10000:04d}-1"

    def order_ref(self, i: int) -> dict[str, Any]:
        return {
            "index": i,
            "posting_number": self.posting_number(i),
            "status": STATUS.get(self.orders.stage(i), "awaiting_verification"),
            "changed_at": self.orders.changed_at(i),
        }

    def posting(self, i: int) -> dict[str, Any]:
        book = self.orders
        p = book.product(i)
        phone = book.phone(i)
        posting: dict[str, Any] = {
            "posting_number": self.posting_number(i),
            "order_id": 33_301_885_134 + i,
            "order_number": self.posting_number(i)[:-2],
            "status": STATUS.get(book.stage(i), "awaiting_verification"),
            "substatus": "posting_created",
            "in_process_at": _iso(book.created_at(i)),
            "shipment_date": _iso(book.created_at(i) + 86_400),
            "delivery_method": dict(_DELIVERY_METHOD),
            "tracking_number": "",
            "tpl_integration_type": "ozon",
            "products": [
                {
                    "sku": SKU_BASE + p,
                    "offer_id": f"art-{p}",
                    "name": f"Футболка {p}",
                    "quantity": book.quantity(i),
                    "price": {"amount": f"{book.price_kopecks(i) / 100:.2f}", "currency": "RUB"},
                    "imei": [],
                    "is_marketplace_buyout": False,
                }
            ],
            "available_actions": [],
            "is_express": False,
            "is_multibox": False,
            "multi_box_qty": 1,
            "parent_posting_number": "",
        }
        if phone:
            posting["customer"] = {"name": "Покупатель", "phone": phone}
        return posting

    def posting_json(self, i: int) -> str:
        """`posting(i)` as compact JSON text, equal to encoding it, written directly: a list
        page renders 100 of them, and the dict-then-encode way was most of the emulator's
        time per page (tests/sync/test_adapters.py holds the two renderings equal)."""
        book = self.orders
        p = book.product(i)
        number = self.posting_number(i)
        created = book.created_at(i)
        phone = book.phone(i)
        customer = (
            f',"customer":{{"name":"Покупатель","phone":{json.dumps(phone, ensure_ascii=False)}}}'
            if phone
            else ""
        )
        return (
            f'{{"posting_number":"{number}","order_id":{33_301_885_134 + i},'
            f'"order_number":"{number[:-2]}",'
            f'"status":"{STATUS.get(book.stage(i), "awaiting_verification")}",'
            f'"substatus":"posting_created","in_process_at":"{_iso_fast(created)}",'
            f'"shipment_date":"{_iso_fast(created + 86_400)}",{_DELIVERY}'
            f'"products":[{{"sku":{SKU_BASE + p},"offer_id":"art-{p}","name":"Футболка {p}",'
            f'"quantity":{book.quantity(i)},'
            f'"price":{{"amount":"{book.price_kopecks(i) / 100:.2f}","currency":"RUB"}},'
            f'"imei":[],"is_marketplace_buyout":false}}],{_FLAGS}{customer}}}'
        )

    # -- the API

    async def _endpoint(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        self.stats["requests"] += 1
        handler = _ROUTES.get(path)
        if handler is None:
            return _rpc(404, 5, "Not Found")
        client_id = request.headers.get("client-id", "")
        if not client_id or self.keys.get(client_id) != request.headers.get("api-key"):
            self.stats["401"] += 1
            return _rpc(401, 16, "Invalid Api-Key, please check the key and try again")
        groups = ["global", "stocks"] if path == "/v2/products/stocks" else ["global"]
        for group in groups:
            limited = self._limit(client_id, group)
            if limited is not None:
                return limited
        fault = await stall(self._ctx.faults.pick(self.slug, path.strip("/"), path))
        if fault is not None:
            return self._fault(fault.kind, fault.spec.status, fault.spec.retry_after)
        try:
            raw = await request.body()
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise RpcError(400, 3, "invalid request: body must be an object")
            result = handler(self, body)
        except ValueError:
            return _rpc(400, 3, "invalid request: body is not JSON")
        except RpcError as exc:
            return _rpc(exc.status, exc.code, exc.message)
        body = result.body if isinstance(result, EncodedJson) else dumps(result)
        response = Response(body, media_type="application/json")
        bucket = self.buckets.get(client_id, "global")
        if bucket is not None:
            response.headers["Ratelimit-Remaining"] = str(bucket.remaining())
        return response

    def _limit(self, client_id: str, group: str) -> Response | None:
        bucket = self.buckets.get(client_id, group)
        if bucket is None:
            return None
        allowed, wait = bucket.take(self.now())
        if allowed:
            return None
        self.stats["429"] += 1
        response = _rpc(429, 8, "You have reached request rate limit per second")
        response.headers["Retry-After"] = str(whole_seconds(wait))
        return response

    def _fault(self, kind: str, status: int, retry_after: float | None) -> Response:
        self.stats[f"fault_{kind}"] += 1
        if kind == "rate_limit":
            response = _rpc(429, 8, "You have reached request rate limit per second")
            # An injected fault may ask for less than a second (fast tests); the platform's own
            # limits always answer in whole seconds.
            response.headers["Retry-After"] = f"{retry_after:g}" if retry_after else "1"
            return response
        if kind == "malformed":
            return Response(b'{"postings":[{"posting_', media_type="application/json")
        if kind == "timeout":
            return _rpc(504, 14, "upstream timeout")
        return _rpc(status, 13, "internal error")


def _rpc(status: int, code: int, message: str) -> Response:
    return Response(
        dumps({"code": code, "message": message, "details": []}),
        status_code=status,
        media_type="application/json",
    )


def postings_list(emu: OzonSandbox, body: dict[str, Any]) -> Any:
    flt = body.get("filter") or {}
    if not flt.get("since") or not flt.get("to"):
        raise RpcError(400, 3, "invalid request: filter.since and filter.to are required")
    limit = body.get("limit")
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise RpcError(400, 3, "invalid request: limit must be 1..100")
    try:
        since, to = _time(flt["since"]), _time(flt["to"])
        changed = flt.get("last_changed_status_date") or {}
        lo = _time(changed["from"]) if changed.get("from") else None
        hi = _time(changed["to"]) if changed.get("to") else None
        after = _uncursor(body["cursor"]) if body.get("cursor") else None
    except (ValueError, KeyError, TypeError):
        raise RpcError(400, 3, "invalid request: bad date or cursor") from None
    if to - since > 366 * 86_400:
        raise RpcError(400, 3, "invalid request: the period is longer than a year")
    direction = str(body.get("sort_dir") or "ASC").upper()
    if direction not in ("ASC", "DESC"):
        raise RpcError(400, 3, "invalid request: sort_dir must be ASC or DESC")
    statuses = set(flt.get("statuses") or ())
    book, found, last = emu.orders, list[int](), None
    # Ordered by (change time, index), newest first with DESC; the cursor is the last
    # posting returned, and the next page continues past it in the same direction.
    scan = book.scan_down(lo, hi, after) if direction == "DESC" else book.scan(lo, hi, after)
    for i in scan:
        last = (book.changed_at(i), i)
        if not since <= book.created_at(i) <= to:
            continue
        if statuses and STATUS.get(book.stage(i)) not in statuses:
            continue
        found.append(i)
        if len(found) > limit:
            break
    has_next = len(found) > limit
    found = found[:limit]
    if has_next:
        last = (book.changed_at(found[-1]), found[-1])
    cursor = _cursor(last) if last else ""
    postings = ",".join(emu.posting_json(i) for i in found)
    has = "true" if has_next else "false"
    return EncodedJson(f'{{"postings":[{postings}],"has_next":{has},"cursor":"{cursor}"}}'.encode())


def posting_get(emu: OzonSandbox, body: dict[str, Any]) -> Any:
    number = str(body.get("posting_number") or "")
    try:
        i = int(number.split("-")[0]) - 208245774
    except ValueError:
        i = -1
    if not 0 <= i < emu.orders.n or emu.posting_number(i) != number:
        raise RpcError(404, 5, "POSTING_NOT_FOUND")
    return {"result": emu.posting(i)}


def product_list(emu: OzonSandbox, body: dict[str, Any]) -> Any:
    limit = body.get("limit")
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise RpcError(400, 3, "invalid request: limit must be 1..1000")
    start = int(base64.b64decode(body["last_id"]).decode()) + 1 if body.get("last_id") else 0
    products, j = emu.products, start
    items: list[dict[str, Any]] = []
    while j < products.count and len(items) < limit:
        items.append(
            {
                "product_id": PRODUCT_BASE + j,
                "offer_id": f"art-{j}",
                "sku": SKU_BASE + j,
                "archived": j in products.removed,
                "has_fbo_stocks": False,
                "has_fbs_stocks": True,
                "is_discounted": False,
                "quants": [],
            }
        )
        j += 1
    last_id = base64.b64encode(str(j - 1).encode()).decode() if items else ""
    return {
        "result": {
            "items": items,
            "total": products.count,
            "total_items": products.count,
            "last_id": last_id,
        }
    }


def product_stocks(emu: OzonSandbox, body: dict[str, Any]) -> Any:
    """`/v4/product/info/stocks`: every product's stock by type, cursor paged.

    Each product has an `fbs` row at the seller's warehouse (what `/v2/products/stocks` set)
    and an empty `fbo` row (Ozon's own warehouses, which the emulator does not stock)."""
    limit = body.get("limit")
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise RpcError(400, 3, "invalid request: limit must be 1..1000")
    cursor = str(body.get("cursor") or "")
    try:
        start = int(base64.b64decode(cursor).decode()) + 1 if cursor else 0
    except ValueError:
        raise RpcError(400, 3, "invalid request: bad cursor") from None
    products, stop = emu.products, min(emu.products.count, start + limit)
    items = []
    for j in range(start, stop):
        pid = PRODUCT_BASE + j
        present = products.stocks.get((str(WAREHOUSE), str(pid)), 0)
        items.append(
            {
                "offer_id": f"art-{j}",
                "product_id": pid,
                "stocks": [
                    {
                        "type": "fbs",
                        "present": present,
                        "reserved": 0,  # the emulator reserves nothing for orders
                        "sku": SKU_BASE + j,
                        "shipment_type": "SHIPMENT_TYPE_GENERAL",
                        "warehouse_ids": [WAREHOUSE],
                    },
                    {
                        "type": "fbo",
                        "present": 0,
                        "reserved": 0,
                        "sku": SKU_BASE + j,
                        "shipment_type": "SHIPMENT_TYPE_GENERAL",
                        "warehouse_ids": [],
                    },
                ],
            }
        )
    nxt = base64.b64encode(str(stop - 1).encode()).decode() if items else ""
    return {"cursor": nxt, "items": items, "total": len(items)}


def stocks_update(emu: OzonSandbox, body: dict[str, Any]) -> Any:
    stocks = body.get("stocks")
    if not isinstance(stocks, list) or not 1 <= len(stocks) <= 100:
        raise RpcError(400, 3, "invalid request: stocks must hold 1..100 items")
    products, now, out = emu.products, emu.now(), []
    for item in stocks:
        pid = item.get("product_id")
        warehouse = item.get("warehouse_id")
        j = int(pid) - PRODUCT_BASE if isinstance(pid, int) else -1
        errors = []
        if not 0 <= j < products.count:
            errors.append(("offer_id_not_found", "Product not found"))
        elif j in products.removed:
            errors.append(("PRODUCT_IS_ARCHIVED", "Product is archived"))
        elif str(warehouse) != str(WAREHOUSE):
            errors.append(("WAREHOUSE_NOT_FOUND", "Warehouse not found"))
        elif not isinstance(item.get("stock"), int) or item["stock"] >= 1_000_000:
            errors.append(("STOCK_TOO_BIG", "Stock is too big"))
        else:
            pair = (str(warehouse), str(pid))
            if now - products.stock_updated_at.get(pair, -1e18) < PAIR_INTERVAL:
                errors.append(("TOO_MANY_REQUESTS", "Stock is updated too frequently"))
            else:
                products.stocks[pair] = item["stock"]
                products.stock_updated_at[pair] = now
        out.append(
            {
                "product_id": pid,
                "offer_id": f"art-{j}",
                "warehouse_id": warehouse,
                "updated": not errors,
                "errors": [{"code": c, "message": m} for c, m in errors],
            }
        )
    return {"result": out}


def warehouse_list(_emu: OzonSandbox, _body: dict[str, Any]) -> Any:
    return {"result": [{"warehouse_id": WAREHOUSE, "name": "Софьино", "is_rfbs": False}]}


def analytics(emu: OzonSandbox, body: dict[str, Any]) -> Any:
    try:
        start = _time(str(body["date_from"]) + "T00:00:00Z")
        end = _time(str(body["date_to"]) + "T00:00:00Z") + 86_400
    except (KeyError, ValueError):
        raise RpcError(400, 3, "invalid request: date_from and date_to are dates") from None
    book = emu.orders
    per: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])
    for i in range(book.n):
        if start <= book.created_at(i) < end and book.stage(i) != CANCELLED:
            row = per[book.product(i)]
            row[0] += book.price_kopecks(i) / 100 * book.quantity(i)
            row[1] += book.quantity(i)
    data = [
        {"dimensions": [{"id": f"art-{p}", "name": f"Футболка {p}"}], "metrics": v}
        for p, v in sorted(per.items())
    ]
    return {
        "result": {
            "data": data,
            "totals": [sum(v[0] for v in per.values()), sum(v[1] for v in per.values())],
        }
    }


_ROUTES = {
    "/v4/posting/fbs/list": postings_list,
    "/v3/posting/fbs/get": posting_get,
    "/v3/product/list": product_list,
    "/v2/products/stocks": stocks_update,
    "/v4/product/info/stocks": product_stocks,
    "/v2/warehouse/list": warehouse_list,
    "/v1/analytics/data": analytics,
}
