"""Wildberries Seller API emulator: one path prefix per API family host
(`/wildberries/marketplace-api/api/v3/orders`, `/wildberries/statistics-api/…`), token
categories checked per host, token buckets per (token, method group) with the
`X-Ratelimit-*` headers and WB's 429 body, each family's own error shape, and a store of
orders and products the control API grows and changes (docs/sync.md)."""

from easyflow.sandbox.base import EmulatorSpec
from easyflow.sandbox.wildberries.emulator import DEMO_TOKEN, WildberriesConfig, WildberriesSandbox

EMULATOR = EmulatorSpec(
    "wildberries",
    WildberriesConfig,
    WildberriesSandbox,
    credentials=lambda _emulator: [{"token": DEMO_TOKEN}],
)

__all__ = ["EMULATOR", "WildberriesConfig", "WildberriesSandbox"]
