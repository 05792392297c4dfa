"""Wildberries payloads mapped to the hub's commerce models.

Money differs by family: marketplace amounts are integers ×100 (kopecks), statistics amounts
decimal rubles. Statistics timestamps have no offset and are Moscow time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from easyflow.domain.commerce import Order, OrderItem, OrderStatus, Product
from easyflow.platforms.wildberries.facts import CURRENCIES, MOSCOW, SUPPLIER_STATUS, WB_STATUS

SOURCE = "wildberries"


def parse_moscow(text: str) -> datetime:
    """A statistics timestamp (`2025-11-06T10:11:07`, Moscow time) as aware UTC."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=MOSCOW)
    return value.astimezone(UTC)


def to_moscow(value: datetime) -> str:
    """What `dateFrom` takes: Moscow time without an offset, to the second."""
    return value.astimezone(MOSCOW).replace(tzinfo=None).isoformat(timespec="seconds")


def parse_utc(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def statistics_order(row: Mapping[str, Any], changed: datetime | None = None) -> Order:
    """One statistics orders row (one unit of one item) as an order; KeyError/ValueError if
    the row lacks what an order needs. `changed`: its `lastChangeDate`, if already parsed."""
    price = Decimal(str(row["priceWithDisc"]))
    return Order(
        external_id=str(row["srid"]),
        number=str(row.get("gNumber") or row["srid"]),
        status=OrderStatus.CANCELLED if row.get("isCancel") else OrderStatus.NEW,
        total=price,
        currency="RUB",
        updated_at=changed or parse_moscow(str(row["lastChangeDate"])),
        source=SOURCE,
        items=(OrderItem(str(row["supplierArticle"]), str(row.get("subject") or ""), 1, price),),
    )


def card_product(card: Mapping[str, Any]) -> Product:
    sizes = card.get("sizes") or []
    return Product(
        external_id=str(card["nmID"]),
        offer_id=str(card["vendorCode"]),
        name=str(card.get("title") or card["vendorCode"]),
        updated_at=parse_utc(str(card["updatedAt"])),
        source=SOURCE,
        barcodes=tuple(str(s) for size in sizes for s in size.get("skus") or ()),
        stock_keys=tuple(str(size["chrtID"]) for size in sizes if "chrtID" in size),
    )


def _status(supplier: str | None, wb: str | None) -> OrderStatus:
    by_wb = WB_STATUS.get(wb or "")
    if by_wb is not None:
        return by_wb
    return SUPPLIER_STATUS.get(supplier or "", OrderStatus.NEW)


def fbs_orders(
    tasks: Iterable[Mapping[str, Any]], statuses: Mapping[int, Mapping[str, Any]]
) -> list[Order]:
    """Assembly tasks grouped into orders: one task is one unit, a basket shares `orderUid`."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for task in tasks:
        groups[str(task["orderUid"])].append(task)
    orders = []
    for uid, group in groups.items():
        units: dict[tuple[str, int], int] = defaultdict(int)
        prices: dict[tuple[str, int], Decimal] = {}
        for task in group:
            key = (str(task["article"]), int(task.get("chrtId") or task.get("nmId") or 0))
            units[key] += 1
            prices[key] = Decimal(int(task.get("convertedFinalPrice") or task["price"])) / 100
        first = group[0]
        state = statuses.get(int(first["id"]), {})
        items = tuple(OrderItem(k[0], k[0], q, prices[k]) for k, q in units.items())
        orders.append(
            Order(
                external_id=uid,
                number=uid,
                status=_status(state.get("supplierStatus"), state.get("wbStatus")),
                total=sum((i.price * i.quantity for i in items), Decimal(0)),
                currency=CURRENCIES.get(int(first.get("currencyCode") or 643), "RUB"),
                updated_at=parse_utc(str(first["createdAt"])),
                source=SOURCE,
                items=items,
            )
        )
    return orders
