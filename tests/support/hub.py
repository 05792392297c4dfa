"""An in-process hub wired to an in-process sandbox, for end-to-end tests and benchmarks.

Both directions go through `httpx.ASGITransport`: the hub's adapters call the sandbox's Bot
API and OpenAI API, and the sandbox delivers webhooks into the hub's FastAPI app. Nothing is
mocked: the same adapters, PlatformClient, intake, jobs and storage as in production.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from starlette.types import Receive, Scope, Send

from easyflow.app import create_app
from easyflow.bootstrap import Container, build_container
from easyflow.config import Settings
from easyflow.domain.ai import AiProfile, FaqEntry
from easyflow.domain.commerce import Order, OrderStatus
from easyflow.domain.messaging import Sender
from easyflow.domain.phones import digits
from easyflow.domain.tenancy import Capability
from easyflow.http import RetryPolicy
from easyflow.platforms.registry import PlatformRegistry
from easyflow.sandbox.base import Clock
from easyflow.sandbox.server import (
    Sandbox,
    SandboxConfig,
    create_sandbox_app,
    registered_emulators,
)

HUB_URL = "http://testserver"
SANDBOX_URL = "http://sandbox"
CHAT = 5550001
FAST_RETRY = RetryPolicy(attempts=4, initial_backoff=0.01, max_backoff=0.05, max_retry_after=5)
# The phone number on the seeded orders: only a customer who proved it hears about them.
PHONE = "+7 (900) 123-45-67"
ORDERS = (
    Order(
        "t-1001",
        "1001",
        OrderStatus.SHIPPED,
        Decimal("2490"),
        "RUB",
        datetime(2026, 11, 26, tzinfo=UTC),
        customer_phone=PHONE,
        tracking_number="RR1RU",
    ),
    Order(
        "t-1002",
        "1002",
        OrderStatus.ASSEMBLING,
        Decimal("990"),
        "RUB",
        datetime(2026, 11, 26, tzinfo=UTC),
        customer_phone=PHONE,
    ),
)
PROFILE = AiProfile(
    system_prompt="You are the support assistant of Test Shop.",
    faq=(FaqEntry("delivery", ("delivery",), "We deliver in 2-4 days."),),
)


class _LateBound:
    """An ASGI app whose target is set after construction (hub and sandbox need each other)."""

    target: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.target(scope, receive, send)


@dataclass
class Hub:
    container: Container
    sandbox: Sandbox
    http: httpx.AsyncClient  # talks to the hub's app
    tenant_id: int
    api_key: str
    token: str
    integration_id: int
    _shared: int = 0  # contacts shared so far (their update ids)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    async def settle(self, timeout: float = 15.0) -> None:
        """Until the sandbox has delivered everything and the hub's jobs are done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            await self.sandbox.wait_idle(timeout=max(0.1, deadline - time.monotonic()))
            await self.container.queue.wait_idle()
            await asyncio.sleep(0.01)
            if not self.sandbox.busy() and not self.container.queue.busy():
                return
        raise TimeoutError("hub and sandbox did not settle")

    async def customer_writes(self, text_: str, chat_id: int = CHAT, **kw: Any) -> dict[str, Any]:
        update = await self.sandbox.telegram.customer_writes(self.token, chat_id, text_, **kw)
        await self.settle()
        return update

    def sent(self, chat_id: int = CHAT) -> list[str]:
        return [m.text for m in self.sandbox.telegram.sent(self.token, chat_id)]

    async def count(self, table: str) -> int:
        async with self.container.engine.connect() as conn:
            return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608

    async def post_update(self, update: dict[str, Any], secret: str | None) -> httpx.Response:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        return await self.http.post(
            f"/api/v1/messaging/webhook/telegram/{self.integration_id}",
            json=update,
            headers=headers,
        )

    async def share_contact(
        self, phone: str = PHONE, chat_id: int = CHAT, user_id: int | None = None
    ) -> httpx.Response:
        """The customer taps "share my phone number": a Telegram `contact` message, signed
        like the platform's, whose user_id is the sender's unless `user_id` says otherwise."""
        self._shared += 1
        sender = {"id": abs(chat_id), "is_bot": False, "first_name": "Ivan"}
        update = {
            "update_id": 900_000_000 + self._shared,  # clear of the sandbox's own update ids
            "message": {
                "message_id": 900_000 + self._shared,
                "date": int(time.time()),
                "from": sender,
                "chat": {"id": chat_id, "type": "private", "first_name": "Ivan"},
                "contact": {
                    "phone_number": phone,
                    "first_name": "Ivan",
                    "user_id": abs(chat_id) if user_id is None else user_id,
                },
            },
        }
        response = await self.post_update(update, await self.webhook_secret())
        await self.settle()
        return response

    async def link_customer(
        self, chat_id: int = CHAT, phone: str = PHONE, integration_id: int | None = None
    ) -> None:
        """Set-up for tests about something else: the customer of `chat_id` as they are after
        sharing their phone number (tests/e2e/test_privacy.py proves that path end to end)."""
        sender = Sender(str(abs(chat_id)), "Ivan")
        async with self.container.uow() as uow:
            contact = await uow.contacts.upsert(
                self.tenant_id, integration_id or self.integration_id, sender
            )
            await uow.contacts.set_phone(self.tenant_id, contact.id, digits(phone))
            await uow.commit()

    async def webhook_secret(self) -> str:
        async with self.container.uow() as uow:  # test-only peek
            integration = await uow.integrations.get(self.tenant_id, self.integration_id)
        return integration.webhook_secrets[0]


def hub_settings(database_url: str, data_dir: Path, key: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "secret_keys": key,
        "public_url": HUB_URL,
        "sandbox_url": SANDBOX_URL,
        "broker_url": "memory://",
        "recovery_interval_seconds": 3600,
    }
    return Settings(**(values | overrides))


def messenger_demo_config(retry_delay_scale: float) -> SandboxConfig:
    """Every messenger's emulator with its package's demo accounts, its webhook retries
    `retry_delay_scale` times the platform's waits (the real schedule, in milliseconds)."""
    registry = PlatformRegistry()
    config = SandboxConfig()
    for spec in registered_emulators(registry):
        if registry.get(spec.slug).spec.offers(Capability.MESSENGER):
            demo = replace(spec.demo_config(), retry_delay_scale=retry_delay_scale)
            setattr(config, spec.slug, demo)
    return config


@asynccontextmanager
async def running_hub(
    database_url: str,
    data_dir: Path,
    key: str,
    *,
    profile: AiProfile = PROFILE,
    sandbox_config: SandboxConfig | None = None,
    sandbox_clock: Clock | None = None,
    **settings: Any,
) -> AsyncIterator[Hub]:
    hub_asgi = _LateBound()
    sandbox = create_sandbox_app(
        sandbox_config or messenger_demo_config(retry_delay_scale=0.01),
        webhook_transport=httpx.ASGITransport(hub_asgi),
        clock=sandbox_clock,
    )
    sandbox_transport = httpx.ASGITransport(sandbox.app)
    config = hub_settings(database_url, data_dir, key, **settings)
    container = build_container(
        config,
        transports=dict.fromkeys(sandbox.emulators, sandbox_transport),
        retry=FAST_RETRY,
    )
    app = create_app(config, container)
    hub_asgi.target = app
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=HUB_URL)
        tenant = await container.tenants.create("Test Shop", profile)
        _, api_key = await container.tenants.create_api_key(tenant.id)
        bot = sandbox.telegram.register_bot(username="test_shop_bot")
        integration = await container.integrations.add(
            tenant.id, "telegram", {"token": bot["token"]}
        )
        try:
            yield Hub(container, sandbox, http, tenant.id, api_key, bot["token"], integration.id)
        finally:
            await http.aclose()
            await sandbox.aclose()
