"""WhatsApp scenario routes, mounted at `/_sandbox/whatsapp` (docs/messengers.md)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from easyflow.sandbox.whatsapp.emulator import WhatsAppSandbox


class WebhookIn(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    verify_token: str = Field(min_length=1, max_length=256)


class MessageIn(BaseModel):
    wa_id: str = Field(pattern=r"^[0-9]{5,20}$")
    name: str = "Ivan Demo"
    text: str | None = None
    content: dict[str, Any] | None = None  # any inbound message content (image, location...)


class PressIn(BaseModel):
    wa_id: str = Field(pattern=r"^[0-9]{5,20}$")
    wamid: str
    button_id: str


def router(sandbox: WhatsAppSandbox) -> APIRouter:
    api = APIRouter(tags=["sandbox: whatsapp"])

    @api.get("/numbers")
    async def numbers() -> dict[str, Any]:
        return {"numbers": sandbox.demo_credentials()}

    @api.post("/numbers/{phone_number_id}/webhook")
    async def webhook(phone_number_id: str, body: WebhookIn) -> dict[str, Any]:
        return await sandbox.configure_webhook(phone_number_id, body.url, body.verify_token)

    @api.post("/numbers/{phone_number_id}/messages")
    async def writes(phone_number_id: str, body: MessageIn) -> dict[str, Any]:
        content = body.content or {"type": "text", "text": {"body": body.text or ""}}
        return sandbox.customer_sends(phone_number_id, body.wa_id, content, body.name)

    @api.post("/numbers/{phone_number_id}/press")
    async def presses(phone_number_id: str, body: PressIn) -> dict[str, Any]:
        return sandbox.customer_presses(phone_number_id, body.wa_id, body.wamid, body.button_id)

    @api.post("/numbers/{phone_number_id}/customers/{wa_id}/close-window")
    async def close_window(phone_number_id: str, wa_id: str) -> dict[str, Any]:
        """The customer's window closes now: the next free text fails later with 131047."""
        sandbox.close_window(phone_number_id, wa_id)
        return {"closed": True}

    @api.get("/numbers/{phone_number_id}/sent")
    async def sent(phone_number_id: str) -> dict[str, Any]:
        return {"sent": [asdict(m) for m in sandbox.sent(phone_number_id)]}

    @api.get("/numbers/{phone_number_id}/deliveries")
    async def deliveries(phone_number_id: str) -> dict[str, Any]:
        return {"deliveries": sandbox.deliveries(phone_number_id)}

    return api
