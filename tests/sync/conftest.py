"""The `market` fixture: a hub on the Wildberries and Ozon emulators (see market.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from easyflow.bootstrap import build_container
from easyflow.config import Settings
from easyflow.sandbox.server import Sandbox
from easyflow.services.retries import RetrySchedule
from easyflow.services.sync import SyncSettings
from support.live_server import async_live_server

from .market import CREDENTIALS, FAST_RETRY, Market, fast_registry, scale_sandbox


@pytest.fixture
async def market(
    migrated_database_url: str, encryption_key: str, tmp_path: Path
) -> AsyncIterator[Market]:
    sandbox = Sandbox()
    transport = httpx.ASGITransport(sandbox.app)
    control = httpx.AsyncClient(transport=transport, base_url="http://sandbox")
    async with _market(
        sandbox, control, migrated_database_url, encryption_key, tmp_path, transport
    ) as found:
        yield found


@pytest.fixture
async def live_market(
    migrated_database_url: str, encryption_key: str, tmp_path: Path
) -> AsyncIterator[Market]:
    """`market` with the emulators on a real port: the hub reads their answers off a socket
    as they arrive (an in-process transport hands over each answer whole)."""
    sandbox = Sandbox()
    async with async_live_server(sandbox.app) as url:
        control = httpx.AsyncClient(base_url=url)
        async with _market(
            sandbox, control, migrated_database_url, encryption_key, tmp_path, None, url
        ) as found:
            yield found


@contextlib.asynccontextmanager
async def _market(
    sandbox: Sandbox,
    control: httpx.AsyncClient,
    database_url: str,
    encryption_key: str,
    tmp_path: Path,
    transport: httpx.AsyncBaseTransport | None,
    sandbox_url: str = "http://sandbox",
) -> AsyncIterator[Market]:
    scale_sandbox(sandbox)
    settings = Settings(
        database_url=database_url,
        secret_keys=encryption_key,
        data_dir=tmp_path,
        sandbox_url=sandbox_url,
        broker_url="memory://",
    )
    platforms = ("wildberries", "ozon", "telegram")
    container = build_container(
        settings,
        transports={p: transport for p in platforms} if transport is not None else None,
        retry=FAST_RETRY,
        registry=fast_registry(),
    )
    container.sync.settings = SyncSettings(
        pages_per_step=4, retry=RetrySchedule(base_seconds=0.001, cap_seconds=0.01, max_attempts=3)
    )
    await container.start()
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
