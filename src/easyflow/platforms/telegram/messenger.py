"""Telegram outbound: send replies and manage the webhook of one bot.

Bot API 10.0 (https://core.telegram.org/bots/api); setup and sandbox: docs/messengers.md.

Quirks kept here as code:
- the token is part of the URL path, so URLs are never logged (PlatformClient logs methods);
- the webhook "signature" is the secret itself in X-Telegram-Bot-Api-Secret-Token;
- errors mirror the HTTP status in `{ok: false, error_code, description, parameters}`, and
  flood control says how long to wait in `parameters.retry_after`;
- text is limited to 4096 characters after entity parsing: long replies are split before
  HTML escaping, so a chunk never ends inside a tag or an entity;
- `callback_data` is limited to 64 *bytes*;
- `allowed_updates` omitted keeps the previous filter, so the hub always sends it.
"""

from __future__ import annotations

import html
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
from easyflow.platforms.telegram.spec import (
    ALLOWED_UPDATES,
    MAX_CALLBACK_DATA_BYTES,
    MAX_TEXT,
    SPEC,
)

_NAME = SPEC.name


# --------------------------------------------------------------------------- outbound shape


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Chunks of at most `limit` characters, counted both as code points and UTF-16 units.

    Splits at a paragraph, line or word boundary when one is in the second half of a chunk.
    """
    chunks: list[str] = []
    rest = text
    while _utf16_len(rest) > limit:
        cut = _fit(rest, limit)
        window = rest[:cut]
        for sep in ("\n\n", "\n", " "):
            at = window.rfind(sep)
            if at > cut // 2:
                cut = at + len(sep)
                break
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest.strip() or not chunks:
        chunks.append(rest)
    return chunks


def _fit(text: str, limit: int) -> int:
    """The longest prefix length whose UTF-16 length is within `limit`."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def _keyboard(rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any]:
    keyboard = []
    for row in rows:
        buttons = []
        for button in row:
            item: dict[str, str] = {"text": button.text}
            if button.url:
                item["url"] = button.url
            else:
                data = button.callback_data or button.text
                if len(data.encode()) > MAX_CALLBACK_DATA_BYTES:
                    raise RejectedError(f"callback_data over 64 bytes: {data!r}", platform=_NAME)
                item["callback_data"] = data
            buttons.append(item)
        keyboard.append(buttons)
    return {"inline_keyboard": keyboard}


def _scopes(chat_id: str) -> dict[str, str]:
    scopes = {"chat": chat_id}
    if chat_id.startswith("-"):  # groups, supergroups and channels have negative ids
        scopes["group"] = chat_id
    return scopes


class TelegramMessenger:
    """The Messenger port for one bot."""

    def __init__(self, client: PlatformClient) -> None:
        self._client = client

    async def identity(self) -> BotIdentity:
        me = await self._client.call("getMe")
        return BotIdentity(str(me["id"]), me.get("username"), me.get("first_name", ""))

    async def set_webhook(self, registration: WebhookRegistration) -> None:
        await self._client.call(
            "setWebhook",
            json={
                "url": registration.url,
                "secret_token": registration.secret,
                "allowed_updates": list(registration.allowed_updates or ALLOWED_UPDATES),
            },
        )

    async def delete_webhook(self) -> None:
        await self._client.call("deleteWebhook", json={"drop_pending_updates": False})

    async def webhook_info(self) -> WebhookInfo:
        info = await self._client.call("getWebhookInfo", http_method="GET")
        return WebhookInfo(
            url=info.get("url", ""),
            pending_update_count=int(info.get("pending_update_count", 0)),
            last_error_message=info.get("last_error_message"),
            allowed_updates=tuple(info.get("allowed_updates") or ()),
        )

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Send as HTML; long texts go as several messages, the keyboard on the last.

        Ready markup (`message.html`) goes as it is, in one message: it cannot be cut safely
        between tags, and a notification template is short."""
        if message.html is not None:
            chunks = [message.html]
        else:
            chunks = [html.escape(c, quote=False) for c in split_text(message.text)]
        ids: list[str] = []
        for index, chunk in enumerate(chunks):
            payload: dict[str, Any] = {
                "chat_id": message.chat_id,
                "text": chunk,
                "parse_mode": "HTML",
            }
            if message.buttons and index == len(chunks) - 1:
                payload["reply_markup"] = _keyboard(message.buttons)
            sent = await self._client.call(
                "sendMessage", json=payload, scopes=_scopes(message.chat_id)
            )
            ids.append(str(sent["message_id"]))
        return DeliveryResult(platform_message_ids=tuple(ids), sent_at=datetime.now(UTC))

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        payload: dict[str, Any] = {"callback_query_id": callback_id}
        if text:
            payload["text"] = text[:200]
        await self._client.call("answerCallbackQuery", json=payload)


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> TelegramMessenger:
    return TelegramMessenger(client)
