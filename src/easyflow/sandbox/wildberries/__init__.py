"""Wildberries Seller API emulator: one path prefix per API family host
(`/wildberries/marketplace-api/api/v3/orders`, `/wildberries/statistics-api/…`), token
categories checked per host, token buckets per (token, method group) with the
`X-Ratelimit-*` headers and WB's 429 body, each family's own error shape, and a store of
orders and products the control API grows and changes (docs/sync.md)."""

from easyflow.sandbox.wildberries.emulator import WildberriesConfig, WildberriesSandbox

__all__ = ["WildberriesConfig", "WildberriesSandbox"]
