"""The Messenger port on the Viber REST Bot API: `/pa/send_message`, `/pa/set_webhook`.

`send_message` needs a `sender.name` (≤ 28 characters): the bot's name as `get_account_info`
gave it when the integration was added (settings `account_name`), unless `sender_name` is
set. Keyboards are PascalCase objects (`Type`, `Buttons`, `ActionType`, `ActionBody`) —
lower-cased keys are silently ignored by Viber. A reply button sends its `ActionBody` back as
an ordinary text message. Text is at most 7,000 characters, split beyond.

The hub registers the webhook itself: `set_webhook` makes Viber POST an `event: "webhook"`
probe to the URL at once, so the integration must be reachable (and stored) before the call.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from easyflow.domain.errors import RejectedError
from easyflow.domain.messaging import (
    BotIdentity,
    Button,
    DeliveryResult,
    OutboundMessage,
    WebhookInfo,
    WebhookRegistration,
)
from easyflow.http import PlatformClient
from easyflow.platforms.fields import split_text

MAX_TEXT = 7000
MAX_SENDER_NAME = 28
MIN_API_VERSION = 7  # keyboards with the fields we use
EVENT_TYPES = ("delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started")


class ViberMessenger:
    """The Messenger port for one Viber bot."""

    def __init__(self, client: PlatformClient, sender_name: str) -> None:
        self._client = client
        self._sender = {"name": sender_name[:MAX_SENDER_NAME] or "Shop"}

    async def identity(self) -> BotIdentity:
        info = await self._client.call("get_account_info", path="/pa/get_account_info", json={})
        return BotIdentity(str(info.get("id")), info.get("name"), info.get("name") or "")

    async def set_webhook(self, registration: WebhookRegistration) -> None:
        await self._client.call(
            "set_webhook",
            path="/pa/set_webhook",
            json={
                "url": registration.url,
                "event_types": list(registration.allowed_updates or EVENT_TYPES),
                "send_name": True,
                "send_photo": False,
            },
        )

    async def delete_webhook(self) -> None:
        await self._client.call("set_webhook", path="/pa/set_webhook", json={"url": ""})

    async def webhook_info(self) -> WebhookInfo:
        info = await self._client.call("get_account_info", path="/pa/get_account_info", json={})
        return WebhookInfo(url=str(info.get("webhook") or ""), pending_update_count=0)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        chunks = split_text(message.text, MAX_TEXT)
        ids = []
        for index, chunk in enumerate(chunks):
            body: dict[str, Any] = {
                "receiver": message.chat_id,
                "min_api_version": MIN_API_VERSION,
                "sender": self._sender,
                "type": "text",
                "text": chunk,
            }
            if message.buttons and index == len(chunks) - 1:
                body["keyboard"] = keyboard(message.buttons)
            sent = await self._client.call("send_message", path="/pa/send_message", json=body)
            if "message_token" not in sent:
                raise RejectedError("send_message answered no message_token", platform="viber")
            ids.append(str(sent["message_token"]))
        return DeliveryResult(platform_message_ids=tuple(ids), sent_at=datetime.now(UTC))

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        return None  # a reply button is an ordinary message: nothing waits for an answer


def keyboard(rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any]:
    """A keyboard whose rows are 6 columns wide, each row's buttons sharing them."""
    buttons = []
    for row in rows:
        columns = max(1, 6 // max(1, len(row)))
        for button in row:
            shaped: dict[str, Any] = {"Columns": columns, "Rows": 1, "Text": button.text}
            if button.url:
                shaped |= {"ActionType": "open-url", "ActionBody": button.url}
            else:
                shaped |= {"ActionType": "reply", "ActionBody": button.callback_data or button.text}
            buttons.append(shaped)
    return {"Type": "keyboard", "DefaultHeight": False, "Buttons": buttons}


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> ViberMessenger:
    name = settings.get("sender_name") or settings.get("account_name") or "Shop"
    return ViberMessenger(client, str(name))
