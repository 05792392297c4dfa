"""Ozon payloads mapped to the hub's commerce models (v4 postings: money as
`{"amount": "<decimal>", "currency": "RUB"}` objects; times in UTC with `Z`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from easyflow.domain.commerce import Order, OrderItem, Product, StockLevel
from easyflow.platforms.ozon.facts import STATUS

SOURCE = "ozon"


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)  # Python 3.11 reads the "Z"
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def to_time(value: datetime, *, up: bool = False) -> str:
    """Ozon takes whole seconds; an upper bound is rounded up so it still covers `value`."""
    value = value.astimezone(UTC)
    if up and value.microsecond:
        value = value.replace(microsecond=0) + timedelta(seconds=1)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def posting_order(posting: Mapping[str, Any]) -> Order:
    """A v4 FBS posting as an order; KeyError/ValueError when it is not one the hub knows.

    A sync maps every posting of the window (100 000 in the bench), on the thread that also
    drives the requests and the writes: each value is read once and the total summed as the
    items are built."""
    status = STATUS.get(str(posting["status"]))
    if status is None:
        raise ValueError(f"unknown posting status {posting['status']!r}")
    items = []
    currency = "RUB"
    total = Decimal(0)
    for product in posting.get("products") or ():
        price = product.get("price") or {}
        currency = str(price.get("currency") or currency)
        amount = Decimal(str(price.get("amount") or "0"))
        quantity = int(product["quantity"])
        offer_id = str(product["offer_id"])
        items.append(OrderItem(offer_id, str(product.get("name") or offer_id), quantity, amount))
        total += amount * quantity
    customer = posting.get("customer") or {}  # rFBS only; FBS postings hide the buyer
    number = str(posting["posting_number"])
    return Order(
        external_id=number,
        number=str(posting.get("order_number") or number),
        status=status,
        total=total,
        currency=currency,
        # The list carries no change time of its own.
        updated_at=parse_time(str(posting["in_process_at"])),
        source=SOURCE,
        customer_name=str(customer.get("name") or ""),
        customer_phone=customer.get("phone") or None,
        tracking_number=posting.get("tracking_number") or None,
        items=tuple(items),
    )


def list_product(item: Mapping[str, Any], seen_at: datetime) -> Product:
    """A /v3/product/list item (ids only: the list carries no name or change time)."""
    return Product(
        external_id=str(item["product_id"]),
        offer_id=str(item["offer_id"]),
        name=str(item.get("name") or item["offer_id"]),
        updated_at=seen_at,
        source=SOURCE,
        stock_keys=(str(item["product_id"]),),
        archived=bool(item.get("archived")),
    )


def stock_levels(item: Mapping[str, Any]) -> list[StockLevel]:
    """A /v4/product/info/stocks item as one level per stock row: at its warehouse when the
    row names exactly one, else under its type (`fbo`: Ozon's warehouses as one total)."""
    product_id, offer_id = str(item["product_id"]), str(item.get("offer_id") or "")
    levels = []
    for row in item.get("stocks") or []:
        warehouses = row.get("warehouse_ids") or []
        where = str(warehouses[0]) if len(warehouses) == 1 else str(row["type"])
        present, reserved = int(row.get("present") or 0), int(row.get("reserved") or 0)
        levels.append(
            StockLevel(product_id, where, max(0, present - reserved), SOURCE, offer_id, reserved)
        )
    return levels
