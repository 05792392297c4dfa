"""Wildberries facts as data: API families and their hosts, token categories, limits, statuses.

Docs: https://dev.wildberries.ru/en/openapi/api-information
"""

from __future__ import annotations

from datetime import timedelta, timezone

from easyflow.domain.commerce import OrderStatus
from easyflow.http import RateLimit

# The family a call belongs to names its host (`{family}.wildberries.ru`) and the token
# category it needs. A token of another category is refused by that host.
HOSTS = {
    "marketplace": "marketplace-api",
    "statistics": "statistics-api",
    "content": "content-api",
    "analytics": "seller-analytics-api",
}

# Bits of the JWT payload's `s` field, one per category, as the seller cabinet encodes them
# (decoded the same way by the widely used clients; WB documents the categories, not the bits).
CATEGORY_BITS = {
    "content": 1,
    "analytics": 2,
    "prices": 3,
    "marketplace": 4,
    "statistics": 5,
    "promotion": 6,
    "feedbacks": 7,
    "chat": 9,
    "supplies": 10,
    "returns": 11,
    "documents": 12,
    "finance": 13,
}
READ_ONLY_BIT = 30

# Per seller account and method group (Period / Limit); the client spaces calls to these.
# The "statistics" bucket is per endpoint: 1 request a minute each.
RATE_LIMITS = (
    RateLimit("marketplace", 300, 60.0),
    RateLimit("content", 100, 60.0),
    RateLimit("statistics", 1, 60.0),
    RateLimit("analytics", 3, 60.0),
)

MOSCOW = timezone(timedelta(hours=3))  # statistics timestamps carry no offset: Moscow time
STATS_PAGE_CAP = 80_000  # rows a statistics response is soft-capped at
STATS_PART_ROWS = 5_000  # rows of a statistics page mapped and written at a time
CARDS_LIMIT = 100
STOCKS_PER_REQUEST = 1000
ORDERS_PER_REQUEST = 1000
MAX_AMOUNT = 100_000

# supplierStatus is the seller's side, wbStatus the buyer's; wbStatus wins once it says more.
SUPPLIER_STATUS = {
    "new": OrderStatus.NEW,
    "confirm": OrderStatus.ASSEMBLING,
    "complete": OrderStatus.SHIPPED,
    "cancel": OrderStatus.CANCELLED,
}
WB_STATUS = {
    "sorted": OrderStatus.SHIPPED,
    "sent_to_carrier": OrderStatus.SHIPPED,
    "accepted_by_carrier": OrderStatus.SHIPPED,
    "ready_for_pickup": OrderStatus.SHIPPED,
    "postponed_delivery": OrderStatus.SHIPPED,
    "sold": OrderStatus.DELIVERED,
    "canceled": OrderStatus.CANCELLED,
    "canceled_by_client": OrderStatus.CANCELLED,
    "declined_by_client": OrderStatus.CANCELLED,
    "defect": OrderStatus.CANCELLED,
}
CURRENCIES = {643: "RUB", 933: "BYN", 398: "KZT", 51: "AMD", 417: "KGS", 860: "UZS"}
