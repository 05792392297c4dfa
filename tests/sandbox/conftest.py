"""Fixtures of the sandbox suite: sandboxes on a frozen clock and an in-process client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from easyflow.sandbox import ManualClock, Sandbox, SandboxConfig, TelegramConfig, create_sandbox_app
from support.sandbox_client import SandboxFactory


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_sandbox(clock: ManualClock) -> AsyncIterator[SandboxFactory]:
    """Build demo sandboxes on the frozen clock with fast webhook retries; closed afterwards.

    Keyword arguments override `TelegramConfig` fields.
    """
    built: list[Sandbox] = []

    def build(transport: httpx.AsyncBaseTransport | None = None, **telegram: Any) -> Sandbox:
        config = SandboxConfig.demo()
        settings = {"bots": config.telegram.bots, "retry_delay_scale": 0.001, **telegram}
        config.telegram = TelegramConfig(**settings)
        sandbox = create_sandbox_app(config, webhook_transport=transport, clock=clock)
        built.append(sandbox)
        return sandbox

    yield build
    for sandbox in built:
        await sandbox.aclose()


@pytest.fixture
def sandbox(make_sandbox: SandboxFactory) -> Sandbox:
    return make_sandbox()


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sandbox), base_url="http://sandbox"
    ) as http:
        yield http
