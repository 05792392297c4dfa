"""The Wildberries emulator: routing, auth, limits and faults around the handlers."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from easyflow.platforms.wildberries import token as wbtoken
from easyflow.sandbox.base import SandboxContext, dumps, whole_seconds
from easyflow.sandbox.buckets import Buckets, Limit
from easyflow.sandbox.commerce_control import EncodedJson, EncodedJsonChunks, MarketplaceSandbox
from easyflow.sandbox.commerce_store import OrderBook, ProductBook
from easyflow.sandbox.faults import stall
from easyflow.sandbox.wildberries import handlers
from easyflow.sandbox.wildberries.wire import family_error, gateway_error, srid

HOSTS = {
    "marketplace-api": "marketplace",
    "statistics-api": "statistics",
    "content-api": "content",
    "seller-analytics-api": "analytics",
}
DEMO_TOKEN = wbtoken.encode(
    {
        "sid": "sandbox-seller",
        "s": wbtoken.category_bits(["content", "marketplace", "statistics", "analytics"]),
        "t": True,
        "exp": 4_102_444_800,
    }
)
# Period, limit, burst per method group (statistics: per endpoint).
DEFAULT_LIMITS = {
    "marketplace": Limit(60.0, 300, 20),
    "content": Limit(60.0, 100, 5),
    "statistics": Limit(60.0, 1, 1),
    "analytics": Limit(60.0, 3, 3),
    "ping": Limit(30.0, 3, 3),
}
Handler = Callable[["WildberriesSandbox", Request, Any, dict[str, str]], Awaitable[Any]]


@dataclass
class WildberriesConfig:
    tokens: list[str] = field(default_factory=lambda: [DEMO_TOKEN])
    limits: dict[str, Limit] | None = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    statistics_page_cap: int = 80_000
    statistics_chunk_rows: int = 2_000  # rows built and sent at a time in a statistics page
    legacy_sku: bool = False  # accept the deprecated `sku` key in stock updates
    products: int = 100


class WildberriesSandbox(MarketplaceSandbox):
    slug = "wildberries"

    def __init__(self, config: WildberriesConfig, ctx: SandboxContext) -> None:
        self.config = config
        self._ctx = ctx
        self._app = Starlette(
            routes=[
                Route(
                    "/{path:path}",
                    self._endpoint,
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                )
            ]
        )
        self._init_state()

    def _init_state(self) -> None:
        self.tokens = set(self.config.tokens)
        self.orders = OrderBook(products=self.config.products)
        self.products = ProductBook(count=self.config.products, t0=float(int(self.now()) - 86_400))
        self.buckets = Buckets(self.config.limits or {})
        self.stats: dict[str, int] = Counter()
        self.stock_requests: list[dict[str, Any]] = []

    def credentials(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new token with the categories asked for (all four families by default)."""
        categories = body.get("categories") or list(HOSTS.values())
        issued = wbtoken.encode(
            {
                "sid": str(body.get("seller", "sandbox-seller")),
                "s": wbtoken.category_bits(categories, bool(body.get("read_only"))),
                "t": True,
                "exp": int(self.now()) + 180 * 86_400,
                "id": f"{len(self.tokens)}",
            }
        )
        self.tokens.add(issued)
        return {"token": issued}

    def order_ref(self, i: int) -> dict[str, Any]:
        return {
            "index": i,
            "srid": srid(self.orders, i),
            "stage": self.orders.stage(i),
            "changed_at": self.orders.changed_at(i),
            "task_id": 5_000_000 + i,
        }

    # -- the API

    async def _endpoint(self, request: Request) -> Response:
        path = request.path_params["path"]
        host, _, rest = path.partition("/")
        family = HOSTS.get(host)
        key = "/" + rest + (f"#{family}" if rest == "ping" else "")
        route = handlers.ROUTES.get((request.method, key)) if family else None
        params: dict[str, str] = {}
        if route is None and family:
            route, params = handlers.match(request.method, "/" + rest)
        self.stats["requests"] += 1
        if route is None or route[0] != family:
            self.stats["404"] += 1
            return _json(
                404,
                gateway_error(404, "path not found", "Please consult https://dev.wildberries.ru/"),
            )
        _, group, handler = route
        denied = self._authenticate(request, family)
        if denied is not None:
            return denied
        key = request.headers.get("authorization", "")
        limited = self._limit(key, group)
        if limited is not None:
            return limited
        fault = await stall(self._ctx.faults.pick(self.slug, group, "/" + path))
        # `http_error` with code "mid_stream" on a read answered in chunks (statistics): the
        # 200 and the first chunk are sent, then the connection is lost.
        mid_stream = (
            fault is not None
            and fault.kind == "http_error"
            and fault.spec.code == "mid_stream"
            and request.method == "GET"
        )
        if fault is not None and not mid_stream:
            return self._fault(fault.kind, fault.spec.status, fault.spec.retry_after, family)
        try:
            body = await _body(request)
        except ValueError:
            return _json(400, family_error(family, 400, "invalid JSON body"))
        result = await handler(self, request, body, params)
        if isinstance(result, Response):
            return result
        if isinstance(result, EncodedJson):
            response = Response(result.body, status_code=200, media_type="application/json")
        elif isinstance(result, EncodedJsonChunks):
            if mid_stream:
                self.stats["fault_mid_stream"] += 1
            response = result.response(cut_after=1 if mid_stream else None)
        elif mid_stream and fault is not None:  # an answer sent whole cannot break off
            return self._fault(fault.kind, fault.spec.status, fault.spec.retry_after, family)
        else:
            response = _json(200, result)
        bucket = self.buckets.get(key, group)
        if bucket is not None:
            response.headers["X-Ratelimit-Remaining"] = str(bucket.remaining())
        return response

    def _authenticate(self, request: Request, family: str) -> Response | None:
        raw = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if raw not in self.tokens:
            self.stats["401"] += 1
            return _json(401, gateway_error(401, "unauthorized", "token is not valid"))
        info = wbtoken.decode(raw)
        if family not in info.categories:
            self.stats["401"] += 1
            return _json(
                401,
                gateway_error(
                    401, "unauthorized", f"token scope not allowed for this API route ({family})"
                ),
            )
        if info.read_only and request.method in ("PUT", "PATCH", "DELETE"):
            return _json(401, gateway_error(401, "unauthorized", "read-only token"))
        return None

    def _limit(self, key: str, group: str) -> Response | None:
        bucket = self.buckets.get(key, group)
        if bucket is None:
            return None
        allowed, wait = bucket.take(self.now())
        if allowed:
            return None
        self.stats["429"] += 1
        response = _json(
            429,
            gateway_error(
                429, "too many requests", "limited by c122a060-a7fb-4bb4-abb0-32fd4e18d489"
            ),
        )
        response.headers["X-Ratelimit-Retry"] = str(whole_seconds(wait))
        response.headers["X-Ratelimit-Limit"] = str(bucket.rule.burst)
        response.headers["X-Ratelimit-Reset"] = str(whole_seconds(bucket.full_in()))
        return response

    def _fault(self, kind: str, status: int, retry_after: float | None, family: str) -> Response:
        self.stats[f"fault_{kind}"] += 1
        if kind == "rate_limit":
            response = _json(429, gateway_error(429, "too many requests", "limited"))
            # An injected fault may ask for less than a second (fast tests); the platform's own
            # limits always answer in whole seconds.
            response.headers["X-Ratelimit-Retry"] = f"{retry_after:g}" if retry_after else "1"
            return response
        if kind == "malformed":
            return Response(b'{"orders":[{"id":', status_code=200, media_type="application/json")
        if kind == "timeout":
            return _json(504, gateway_error(504, "gateway timeout", "upstream timed out"))
        return _json(status, family_error(family, status, "internal error"))


async def _body(request: Request) -> Any:
    raw = await request.body()
    return json.loads(raw) if raw else None


def _json(status: int, body: Any) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json")
