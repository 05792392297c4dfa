"""Ozon facts as data: limits, status vocabulary, batch sizes (docs: https://docs.ozon.ru/api/seller/)."""

from __future__ import annotations

from easyflow.domain.commerce import OrderStatus
from easyflow.http import RateLimit

# 50 requests a second per Client-Id across all methods; stock updates also 80 a minute.
RATE_LIMITS = (RateLimit("key", 50, 1.0), RateLimit("stocks", 80, 60.0))

POSTINGS_LIMIT = 100  # /v4/posting/fbs/list: 1..100
PRODUCTS_LIMIT = 1000  # /v3/product/list: 1..1000
STOCK_INFO_LIMIT = 1000  # /v4/product/info/stocks: 1..1000 products a page
STOCKS_PER_REQUEST = 100  # product×warehouse pairs per /v2/products/stocks call
MAX_STOCK = 999_999
MAX_SPAN_DAYS = 364  # filter.since … filter.to spans at most a year

STATUS = {
    "awaiting_registration": OrderStatus.NEW,
    "acceptance_in_progress": OrderStatus.NEW,
    "awaiting_approve": OrderStatus.NEW,
    "awaiting_packaging": OrderStatus.CONFIRMED,
    "awaiting_deliver": OrderStatus.ASSEMBLING,
    "sent_by_seller": OrderStatus.SHIPPED,
    "driver_pickup": OrderStatus.SHIPPED,
    "delivering": OrderStatus.SHIPPED,
    "arbitration": OrderStatus.SHIPPED,
    "client_arbitration": OrderStatus.SHIPPED,
    "delivered": OrderStatus.DELIVERED,
    "cancelled": OrderStatus.CANCELLED,
    "not_accepted": OrderStatus.CANCELLED,
}
API_STATUS = {  # the hub's status as filter values for the list call
    status: tuple(k for k, v in STATUS.items() if v is status) for status in OrderStatus
}
