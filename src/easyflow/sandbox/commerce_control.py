"""The control API the marketplace emulators share, under `/_sandbox/<slug>`: grow the store
(N orders in one call, a million included), move orders along their lifecycle, edit old
orders late, give an order a customer's phone, add or remove products, read what the hub
pushed (stocks), set the rate limits, and read the request counters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.responses import StreamingResponse

from easyflow.sandbox.base import ControlError, SandboxContext, UnknownObject
from easyflow.sandbox.buckets import Buckets, Limit
from easyflow.sandbox.commerce_store import STAGES, OrderBook, ProductBook


@dataclass(frozen=True, slots=True)
class EncodedJson:
    """An answer's JSON body already rendered (big pages are written as text, not encoded
    from dicts): the emulator sends these bytes as they are."""

    body: bytes


@dataclass(frozen=True, slots=True)
class EncodedJsonChunks:
    """A big answer's JSON body rendered piece by piece as it is sent (a Wildberries
    statistics page: tens of MB), so the client reads the first rows while the rest are
    built and neither side holds the whole body."""

    chunks: Iterator[bytes]

    def response(self, cut_after: int | None = None) -> StreamingResponse:
        """The answer; `cut_after` chunks (an injected fault) and the connection is lost:
        the body ends without its last chunk, as when a network drops mid-answer."""

        async def body() -> AsyncIterator[bytes]:
            for sent, chunk in enumerate(self.chunks):
                if sent == cut_after:
                    raise ConnectionAbortedError("injected fault: connection lost mid-body")
                yield chunk

        return StreamingResponse(body(), media_type="application/json")


class CommerceEmulator(Protocol):
    orders: OrderBook
    products: ProductBook
    stats: dict[str, int]

    def now(self) -> float: ...

    def order_ref(self, i: int) -> dict[str, Any]: ...

    def set_limits(self, limits: dict[str, Limit] | None) -> None: ...

    def credentials(self, body: dict[str, Any]) -> dict[str, Any]: ...


class MarketplaceSandbox:
    """What the Wildberries and Ozon emulators share: their app, their control routes, a
    reset that rebuilds their store (`_init_state`), their clock and their rate buckets. They
    deliver no webhooks, so they are never busy and have nothing to close."""

    _app: Starlette
    _ctx: SandboxContext
    buckets: Buckets

    def _init_state(self) -> None:
        raise NotImplementedError

    @property
    def app(self) -> Starlette:
        return self._app

    def control_router(self) -> APIRouter:
        return commerce_router(self)  # type: ignore[arg-type]  # subclasses complete it

    async def reset(self) -> None:
        self._init_state()

    def busy(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None

    def now(self) -> float:
        return self._ctx.clock()

    def set_limits(self, limits: dict[str, Limit] | None) -> None:
        self.buckets = Buckets(limits or {})


class GenerateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=1, le=10_000_000)
    spread_seconds: float = Field(default=86_400.0, gt=0, le=365 * 86_400)
    ago_seconds: float = Field(default=0.0, ge=0, description="the newest is this old")


class AdvanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=1, ge=1, le=1_000_000)
    since_index: int = Field(default=0, ge=0)


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str | None = Field(default=None, description="new, assembling, shipped, …")
    seconds_ago: float = Field(default=0.0, ge=0, description="a late edit: changed back then")
    phone: str | None = Field(default=None, max_length=32)


class LimitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: float = Field(gt=0)
    limit: int = Field(ge=1)
    burst: int = Field(ge=1)


def commerce_router(emulator: CommerceEmulator) -> APIRouter:
    api = APIRouter(tags=["sandbox"])

    @api.post("/credentials", status_code=201)
    async def credentials(body: dict[str, Any]) -> dict[str, Any]:
        return emulator.credentials(body)

    @api.post("/orders", status_code=201)
    async def generate(body: GenerateIn) -> dict[str, Any]:
        end = emulator.now() - body.ago_seconds
        made = emulator.orders.generate(body.count, end - body.spread_seconds, end)
        return {"first": made.start, "count": len(made), "total": emulator.orders.n}

    @api.get("/orders")
    async def count() -> dict[str, Any]:
        return {"total": emulator.orders.n, "edited": len(emulator.orders.edits)}

    @api.get("/orders/{index}")
    async def order(index: int) -> dict[str, Any]:
        _known(emulator.orders, index)
        return emulator.order_ref(index)

    @api.post("/orders/advance")
    async def advance(body: AdvanceIn) -> dict[str, Any]:
        """Move the next `count` open orders (from `since_index`) one stage on, now."""
        book, i = emulator.orders, body.since_index
        moved: list[int] = []
        while len(moved) < body.count and i < book.n:
            stage = book.stage(i)
            if 0 <= stage < STAGES["delivered"]:
                book.change(i, emulator.now(), stage=stage + 1)
                moved.append(i)
            i += 1
        return {"moved": moved}

    @api.post("/orders/{index}")
    async def change(index: int, body: ChangeIn) -> dict[str, Any]:
        _known(emulator.orders, index)
        stage = None
        if body.status is not None:
            if body.status not in STAGES:
                raise ControlError(f"status is one of {sorted(STAGES)}")
            stage = STAGES[body.status]
        emulator.orders.change(
            index, emulator.now() - body.seconds_ago, stage=stage, phone=body.phone
        )
        return emulator.order_ref(index)

    @api.post("/products", status_code=201)
    async def add_products(body: AdvanceIn) -> dict[str, Any]:
        emulator.products.count += body.count
        emulator.orders.products = emulator.products.count
        return {"total": emulator.products.count}

    @api.delete("/products/{index}")
    async def remove_product(index: int) -> dict[str, Any]:
        if not 0 <= index < emulator.products.count:
            raise UnknownObject(f"no product {index}")
        emulator.products.removed.add(index)
        return {"removed": index}

    @api.get("/stocks")
    async def stocks() -> dict[str, Any]:
        return {
            "stocks": [
                {"warehouse": w, "key": k, "amount": a}
                for (w, k), a in emulator.products.stocks.items()
            ]
        }

    @api.put("/limits")
    async def limits(body: dict[str, LimitIn] | None = None) -> dict[str, Any]:
        """Replace the rate limits; an empty body turns them off (an unthrottled sandbox)."""
        rules = {g: Limit(v.period, v.limit, v.burst) for g, v in (body or {}).items()}
        emulator.set_limits(rules or None)
        return {"groups": sorted(rules)}

    @api.get("/stats")
    async def stats() -> dict[str, Any]:
        return dict(emulator.stats)

    return api


def _known(book: OrderBook, index: int) -> None:
    if not 0 <= index < book.n:
        raise UnknownObject(f"no order {index}")
