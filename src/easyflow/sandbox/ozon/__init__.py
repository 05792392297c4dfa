"""Ozon Seller API emulator: `/v4/posting/fbs/list` (cursor), `/v3/posting/fbs/get`,
`/v3/product/list` (last_id), `/v2/products/stocks` (per-item errors inside a 200, one update
per product×warehouse per 30 s), `/v2/warehouse/list`, `/v1/analytics/data`; `Client-Id` +
`Api-Key` auth, 50 requests/s per Client-Id and 80/min on stocks with 429 + `Retry-After`,
`rpcStatus` error bodies, and the shared store of orders and products (docs/sync.md)."""

from easyflow.sandbox.base import EmulatorSpec
from easyflow.sandbox.ozon.emulator import DEMO_API_KEY, DEMO_CLIENT_ID, OzonConfig, OzonSandbox

EMULATOR = EmulatorSpec(
    "ozon",
    OzonConfig,
    OzonSandbox,
    credentials=lambda _emulator: [{"client_id": DEMO_CLIENT_ID, "api_key": DEMO_API_KEY}],
)

__all__ = ["EMULATOR", "OzonConfig", "OzonSandbox"]
