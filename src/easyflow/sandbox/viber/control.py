"""Viber scenario routes, mounted at `/_sandbox/viber` (docs/messengers.md)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from easyflow.sandbox.viber.emulator import ViberSandbox


class CustomerIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=64)
    name: str = "Ivan Demo"
    text: str | None = None
    message: dict[str, Any] | None = None  # any Viber message object (picture, location...)
    context: str | None = None


def router(sandbox: ViberSandbox) -> APIRouter:
    api = APIRouter(tags=["sandbox: viber"])

    @api.get("/bots")
    async def bots() -> dict[str, Any]:
        return {"bots": sandbox.demo_credentials()}

    @api.post("/bots/{auth_token}/open")
    async def opens(auth_token: str, body: CustomerIn) -> dict[str, Any]:
        return sandbox.customer_opens(auth_token, body.user_id, body.name, body.context)

    @api.post("/bots/{auth_token}/subscribe")
    async def subscribes(auth_token: str, body: CustomerIn) -> dict[str, Any]:
        return sandbox.customer_subscribes(auth_token, body.user_id, body.name)

    @api.post("/bots/{auth_token}/unsubscribe")
    async def unsubscribes(auth_token: str, body: CustomerIn) -> dict[str, Any]:
        return sandbox.customer_unsubscribes(auth_token, body.user_id)

    @api.post("/bots/{auth_token}/messages")
    async def writes(auth_token: str, body: CustomerIn) -> dict[str, Any]:
        message = body.message or {"type": "text", "text": body.text or ""}
        return sandbox.customer_sends(auth_token, body.user_id, message, body.name)

    @api.get("/bots/{auth_token}/sent")
    async def sent(auth_token: str) -> dict[str, Any]:
        return {"sent": [asdict(m) for m in sandbox.sent(auth_token)]}

    @api.get("/bots/{auth_token}/deliveries")
    async def deliveries(auth_token: str) -> dict[str, Any]:
        return {"deliveries": sandbox.deliveries(auth_token)}

    return api
