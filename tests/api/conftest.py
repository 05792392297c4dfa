"""The `hub` fixture of the admin, health and secrets suites, on SQLite and on PostgreSQL.

Same pattern as tests/e2e/conftest.py: the real app with the in-process sandbox, a tenant
("Test Shop") with an API key, two orders and one connected Telegram bot.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.hub import Hub, running_hub

from .helpers import ORDERS


@pytest.fixture
async def hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    async with running_hub(migrated_database_url, tmp_path, encryption_key) as hub:
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        yield hub
