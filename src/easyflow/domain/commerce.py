"""Commerce models: orders as the hub knows them, whatever marketplace they came from."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from easyflow.domain.phones import phone_spans


class OrderStatus(enum.StrEnum):
    NEW = "new"
    CONFIRMED = "confirmed"
    ASSEMBLING = "assembling"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNED = "returned"


@dataclass(frozen=True, slots=True)
class OrderItem:
    sku: str
    name: str
    quantity: int
    price: Decimal


@dataclass(frozen=True, slots=True)
class Order:
    external_id: str
    number: str  # what the customer sees and asks about
    status: OrderStatus
    total: Decimal
    currency: str
    updated_at: datetime
    source: str = "manual"  # platform slug the order came from
    customer_name: str = ""
    customer_phone: str | None = None
    tracking_number: str | None = None
    items: tuple[OrderItem, ...] = field(default_factory=tuple)


_ORDER_NUMBER = re.compile(
    r"(?:№|#|\bno\.?|\bnumber|\bномер|\border|\bзаказ\w*)\s*(?:№|#|no\.?)?\s*([A-Za-z0-9-]*\d[A-Za-z0-9-]*)",
    re.IGNORECASE,
)
_BARE_NUMBER = re.compile(r"(?<![\w.,])(\d{3,})(?![\w.,])")
# What makes a phone-shaped number an order number after all: "order 9001234567", "#…", "№…".
_ORDER_INTRO = re.compile(
    r"(?:№|#|\border|\bзаказ\w*)\s*(?:number|номер|no\.?|№|#)?\s*:?\s*$", re.IGNORECASE
)


_INTRO_WINDOW = 32  # characters before a number searched for an order keyword


def _without_phones(text: str) -> str:
    """`text` with phone numbers blanked out, unless an order keyword introduces them."""
    kept, done = [], 0
    for start, end in phone_spans(text):
        if not _ORDER_INTRO.search(text[max(0, start - _INTRO_WINDOW) : start]):
            kept += [text[done:start], " "]
            done = end
    return "".join([*kept, text[done:]])


def extract_order_numbers(text: str) -> tuple[str, ...]:
    """Order numbers a customer mentions: after "order", "заказ", "#", "№", or bare 3+ digits.

    A phone number ("+7 900 123-45-67", "89001234567") is not an order number, nor are its
    digit groups: customers type their phone to prove an order is theirs.
    """
    text = _without_phones(text)
    found = [m.group(1).strip("-") for m in _ORDER_NUMBER.finditer(text)]
    found += _BARE_NUMBER.findall(text)
    return tuple(dict.fromkeys(n for n in found if n))


# --------------------------------------------------------------------------- marketplaces


@dataclass(frozen=True, slots=True)
class Product:
    """A product card as a marketplace lists it; `external_id` is the platform's product id."""

    external_id: str
    offer_id: str  # the seller's own article / vendor code
    name: str
    updated_at: datetime
    source: str = "manual"
    barcodes: tuple[str, ...] = ()
    # Ids the marketplace wants in stock updates (Wildberries sizes' chrtID; Ozon product id).
    stock_keys: tuple[str, ...] = ()
    archived: bool = False


@dataclass(frozen=True, slots=True)
class StockLevel:
    """Stock of one product at one warehouse as the marketplace reports it.

    `product_id` is the key the marketplace takes in stock updates (Wildberries: the size's
    chrtID; Ozon: the product id), so a level read here can be pushed back as a StockChange.
    """

    product_id: str
    warehouse_id: str
    quantity: int  # available to sell
    source: str = "manual"
    offer_id: str = ""
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class OrderFilters:
    """What `Marketplace.get_orders` narrows by; None means no bound."""

    since: datetime | None = None
    until: datetime | None = None
    statuses: tuple[OrderStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class ProductFilters:
    offer_ids: tuple[str, ...] = ()
    text: str | None = None


@dataclass(frozen=True, slots=True)
class StockChange:
    """Set the available quantity of one product at one warehouse (absolute, so idempotent)."""

    product_id: str
    quantity: int
    warehouse_id: str | None = None


@dataclass(frozen=True, slots=True)
class StockFailure:
    product_id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class StockReport:
    """What a stock push achieved: items applied, and each refused item with the reason."""

    updated: tuple[str, ...] = ()
    failed: tuple[StockFailure, ...] = ()


@dataclass(frozen=True, slots=True)
class SalesReport:
    """Totals for a period, as the marketplace's analytics report them."""

    date_from: datetime
    date_to: datetime
    orders: int
    units: int
    revenue: Decimal
    currency: str = "RUB"
    by_product: tuple[tuple[str, int, Decimal], ...] = ()  # (offer id, units, revenue)


@dataclass(frozen=True, slots=True)
class OrderStatusChanged:
    """Domain event: a synced order moved from one status to another."""

    tenant_id: int
    source: str
    external_id: str
    number: str
    old_status: OrderStatus | None
    new_status: OrderStatus
    customer_phone: str | None = None
