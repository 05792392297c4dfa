"""VK scenario routes, mounted at `/_sandbox/vk` (docs/messengers.md)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from easyflow.sandbox.vk.emulator import VkSandbox


class ServerIn(BaseModel):
    url: str = Field(min_length=1, max_length=2048)
    secret: str | None = Field(default=None, max_length=64)


class MessageIn(BaseModel):
    user_id: int = Field(gt=0)
    text: str = ""
    payload: str | None = None
    attachments: list[dict[str, Any]] | None = None


class PressIn(BaseModel):
    user_id: int = Field(gt=0)
    message_id: int
    payload: str


def router(sandbox: VkSandbox) -> APIRouter:
    api = APIRouter(tags=["sandbox: vk"])

    @api.get("/communities")
    async def communities() -> dict[str, Any]:
        return {"communities": sandbox.demo_credentials()}

    @api.post("/communities/{group_id}/server")
    async def add_server(group_id: int, body: ServerIn) -> dict[str, Any]:
        return await sandbox.add_server(group_id, body.url, body.secret)

    @api.post("/communities/{group_id}/messages")
    async def writes(group_id: int, body: MessageIn) -> dict[str, Any]:
        return sandbox.customer_writes(
            group_id, body.user_id, body.text, payload=body.payload, attachments=body.attachments
        )

    @api.post("/communities/{group_id}/press")
    async def presses(group_id: int, body: PressIn) -> dict[str, Any]:
        return sandbox.customer_presses(group_id, body.user_id, body.message_id, body.payload)

    @api.get("/communities/{group_id}/sent")
    async def sent(group_id: int) -> dict[str, Any]:
        return {"sent": [asdict(m) for m in sandbox.sent(group_id)]}

    @api.get("/communities/{group_id}/deliveries")
    async def deliveries(group_id: int) -> dict[str, Any]:
        return {"deliveries": sandbox.deliveries(group_id)}

    return api
