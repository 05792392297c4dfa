"""Helpers of the admin, health and secrets suites: raw SQL, a second tenant, texts."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from support.hub import Hub

UNAUTHORIZED = {"detail": "unauthorized"}
SHIPPED_1001 = "Order 1001 has been shipped. Tracking number: RR1RU."
PACKED_1002 = "Order 1002 is being packed."
UNANSWERABLE = "Can I pay with my grandmother's gift card in installments?"


async def rows(hub: Hub, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Raw rows, straight from the database the hub writes to."""
    async with hub.container.engine.connect() as conn:
        return [tuple(r) for r in (await conn.execute(text(sql), params)).all()]


async def other_tenant(hub: Hub, name: str = "Other Shop") -> tuple[int, dict[str, str]]:
    """A second tenant and the Bearer header of its own API key."""
    tenant = await hub.container.tenants.create(name)
    _, key = await hub.container.tenants.create_api_key(tenant.id)
    return tenant.id, {"Authorization": f"Bearer {key}"}


async def connect_bot(hub: Hub, username: str = "second_shop_bot") -> tuple[str, httpx.Response]:
    """Register a new bot with the sandbox and connect it through the admin API."""
    token = hub.sandbox.telegram.register_bot(username=username)["token"]
    response = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "telegram", "name": "Second shop", "credentials": {"token": token}},
        headers=hub.auth,
    )
    return token, response


async def write(hub: Hub, token: str, chat_id: int, text_: str) -> list[str]:
    """A customer writes to `token`'s bot; after the hub settles, what the bot sent that chat."""
    await hub.sandbox.telegram.customer_writes(token, chat_id, text_)
    await hub.settle()
    return [m.text for m in hub.sandbox.telegram.sent(token, chat_id)]
