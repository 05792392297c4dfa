"""The `market` fixture: a hub on the Wildberries and Ozon emulators (see market.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from easyflow.bootstrap import build_container
from easyflow.config import Settings
from easyflow.sandbox.server import Sandbox
from easyflow.services.retries import RetrySchedule
from easyflow.services.sync import SyncSettings

from .market import CREDENTIALS, FAST_RETRY, Market, fast_registry, scale_sandbox


@pytest.fixture
async def market(
    migrated_database_url: str, encryption_key: str, tmp_path: Path
) -> AsyncIterator[Market]:
    sandbox = Sandbox()
    scale_sandbox(sandbox)
    transport = httpx.ASGITransport(sandbox.app)
    settings = Settings(
        database_url=migrated_database_url,
        secret_keys=encryption_key,
        data_dir=tmp_path,
        sandbox_url="http://sandbox",
        broker_url="memory://",
    )
    container = build_container(
        settings,
        transports={"wildberries": transport, "ozon": transport, "telegram": transport},
        retry=FAST_RETRY,
        registry=fast_registry(),
    )
    container.sync.settings = SyncSettings(
        pages_per_step=4, retry=RetrySchedule(base_seconds=0.001, cap_seconds=0.01, max_attempts=3)
    )
    await container.start()
    control = httpx.AsyncClient(transport=transport, base_url="http://sandbox")
    try:
        tenant = await container.tenants.create("Shop")
        ids = {}
        for platform, credentials in CREDENTIALS.items():
            integration = await container.integrations.add(tenant.id, platform, credentials)
            ids[platform] = integration.id
        yield Market(container, sandbox, control, tenant.id, ids)
    finally:
        await control.aclose()
        await container.aclose()
        await sandbox.aclose()
