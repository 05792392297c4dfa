"""The `hub` fixture: hub + sandbox in process, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from easyflow.domain.commerce import Order, OrderStatus
from support.hub import Hub, running_hub

ORDERS = [
    Order(
        "t-1001",
        "1001",
        OrderStatus.SHIPPED,
        Decimal("2490"),
        "RUB",
        datetime(2026, 11, 26, tzinfo=UTC),
        tracking_number="RR1RU",
    ),
    Order(
        "t-1002",
        "1002",
        OrderStatus.ASSEMBLING,
        Decimal("990"),
        "RUB",
        datetime(2026, 11, 26, tzinfo=UTC),
    ),
]


@pytest.fixture
async def hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    async with running_hub(migrated_database_url, tmp_path, encryption_key) as hub:
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        yield hub
