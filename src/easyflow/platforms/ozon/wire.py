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
    """A v4 FBS posting as an order; KeyError/ValueError when it is not one the hub knows."""
    status = STATUS.get(str(posting["status"]))
    if status is None:
        raise ValueError(f"unknown posting status {posting['status']!r}")
    items = []
    currency = "RUB"
    for product in posting.get("products") or []:
        price = product.get("price") or {}
        currency = str(price.get("currency") or currency)
        items.append(
            OrderItem(
                str(product["offer_id"]),
                str(product.get("name") or product["offer_id"]),
                int(product["quantity"]),
                Decimal(str(price.get("amount") or "0")),
            )
        )
    customer = posting.get("customer") or {}  # rFBS only; FBS postings hide the buyer
    changed = posting["in_process_at"]  # the list carries no change time of its own
    return Order(
        external_id=str(posting["posting_number"]),
        number=str(posting.get("order_number") or posting["posting_number"]),
        status=status,
        total=sum((i.price * i.quantity for i in items), Decimal(0)),
        currency=currency,
        updated_at=parse_time(str(changed)),
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
