"""Control routes of the Telegram emulator, mounted at `/_sandbox/telegram` (docs/sandbox.md).

Thin JSON wrappers over `TelegramSandbox`'s Python API: register bots, make customers write,
press buttons and edit messages, read back what the bot sent and every webhook attempt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from easyflow.sandbox.telegram.emulator import TelegramSandbox


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BotIn(_Body):
    token: str | None = None
    username: str | None = None
    first_name: str | None = None


class CustomerMessageIn(_Body):
    chat_id: int
    text: str = Field(min_length=1, max_length=4096)
    first_name: str = "Ivan"
    username: str | None = None
    chat_type: Literal["private", "group", "supergroup"] | None = None
    user_id: int | None = None
    language_code: str | None = None


class CallbackIn(_Body):
    chat_id: int
    message_id: int
    data: str = Field(min_length=1)
    user_id: int | None = None


class EditIn(_Body):
    chat_id: int
    message_id: int
    text: str = Field(min_length=1, max_length=4096)


def router(telegram: TelegramSandbox) -> APIRouter:
    """The routes, bound to one emulator instance."""
    api = APIRouter(tags=["sandbox: telegram"])

    @api.post("/bots", status_code=201)
    async def register_bot(body: BotIn) -> dict[str, Any]:
        return telegram.register_bot(body.token, username=body.username, first_name=body.first_name)

    @api.get("/bots")
    async def list_bots() -> dict[str, Any]:
        return {"bots": telegram.bots()}

    @api.post("/bots/{token}/messages", status_code=201)
    async def customer_writes(token: str, body: CustomerMessageIn) -> dict[str, Any]:
        return await telegram.customer_writes(
            token,
            body.chat_id,
            body.text,
            first_name=body.first_name,
            username=body.username,
            chat_type=body.chat_type,
            user_id=body.user_id,
            language_code=body.language_code,
        )

    @api.post("/bots/{token}/callbacks", status_code=201)
    async def customer_presses(token: str, body: CallbackIn) -> dict[str, Any]:
        return await telegram.customer_presses(
            token, body.chat_id, body.message_id, body.data, user_id=body.user_id
        )

    @api.post("/bots/{token}/edits", status_code=201)
    async def customer_edits(token: str, body: EditIn) -> dict[str, Any]:
        return await telegram.customer_edits(token, body.chat_id, body.message_id, body.text)

    @api.get("/bots/{token}/sent")
    async def sent(token: str, chat_id: int | None = None) -> dict[str, Any]:
        return {
            "messages": [m.to_dict() for m in telegram.sent(token, chat_id)],
            "callback_answers": [a.to_dict() for a in telegram.callback_answers(token)],
        }

    @api.get("/bots/{token}/deliveries")
    async def deliveries(token: str) -> dict[str, Any]:
        return {"attempts": [a.to_dict() for a in telegram.deliveries(token)]}

    @api.get("/bots/{token}/updates")
    async def pending(token: str) -> dict[str, Any]:
        return {"pending": telegram.pending_updates(token), "webhook": telegram.webhook_info(token)}

    return api
