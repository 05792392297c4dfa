"""The Bot API methods the hub uses (https://core.telegram.org/bots/api#available-methods).

getMe, setWebhook, deleteWebhook, getWebhookInfo, getUpdates, sendMessage, editMessageText,
answerCallbackQuery and sendChatAction, with the server's own error texts. Each handler takes
the bot and its parameters and returns `(result, description)` or raises `TelegramError`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from easyflow.sandbox.base import Clock, whole_seconds
from easyflow.sandbox.telegram.html import EntityParseError, parse_html
from easyflow.sandbox.telegram.state import (
    BotState,
    CallbackAnswer,
    ChatState,
    SentMessage,
    TelegramConfig,
    WebhookConfig,
    message_dict,
)
from easyflow.sandbox.telegram.wire import (
    Params,
    TelegramError,
    bad_request,
    too_many_requests,
)

Answer = tuple[Any, str | None]
Handler = Callable[[BotState, Params], Awaitable[Answer]]

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
WEBHOOK_PORTS = (443, 80, 88, 8443)
_SECRET = re.compile(r"[A-Za-z0-9_-]*")
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
_QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


class BotApi:
    """Dispatches `/bot<token>/<method>` calls for registered bots."""

    def __init__(self, config: TelegramConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "getUpdates": self.get_updates,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "answerCallbackQuery": self.answer_callback_query,
            "sendChatAction": self.send_chat_action,
        }
        self._handlers = {name.lower(): handler for name, handler in handlers.items()}

    def knows(self, method: str) -> bool:
        return method.lower() in self._handlers

    async def call(self, bot: BotState, method: str, params: Params) -> Answer:
        handler = self._handlers.get(method.lower())
        if handler is None:
            raise TelegramError(404, "Not Found: method not found")
        return await handler(bot, params)

    async def get_me(self, bot: BotState, p: Params) -> Answer:
        return dict(bot.user), None

    async def set_webhook(self, bot: BotState, p: Params) -> Answer:
        url = p.text("url")
        if not url:
            return await self.delete_webhook(bot, p)
        self._check_url(url)
        secret = p.text("secret_token")
        if len(secret) > 256:
            raise bad_request("secret token is too long")
        if not _SECRET.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = min(max(p.integer("max_connections", 40) or 40, 1), 100)
        allowed = self._allowed_updates(bot, p)
        new = WebhookConfig(url, secret, max_connections, p.text("ip_address"))
        if p.flag("drop_pending_updates"):
            bot.webhook_sender.discard()
        if new == bot.webhook and allowed == bot.allowed_updates:
            return True, "Webhook is already set"
        now = self._clock()
        if now < bot.next_set_webhook_at:
            raise too_many_requests(1)
        bot.next_set_webhook_at = now + self._config.set_webhook_interval
        bot.webhook, bot.allowed_updates = new, allowed
        bot.last_error_date = bot.last_error_message = None
        bot.webhook_sender.restart(new.url, new.max_connections)
        return True, "Webhook was set"

    async def delete_webhook(self, bot: BotState, p: Params) -> Answer:
        if p.flag("drop_pending_updates"):
            bot.webhook_sender.discard()
        if not bot.webhook.url:
            return True, "Webhook is already deleted"
        bot.webhook_sender.restart(None)
        bot.webhook = WebhookConfig()
        return True, "Webhook was deleted"

    async def get_webhook_info(self, bot: BotState, p: Params) -> Answer:
        return bot.webhook_info(), None

    async def get_updates(self, bot: BotState, p: Params) -> Answer:
        if bot.webhook.url:
            raise TelegramError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        if p.has("allowed_updates"):
            bot.allowed_updates = self._allowed_updates(bot, p)
        _confirm(bot, p.integer("offset", 0) or 0)
        limit = min(max(p.integer("limit", 100) or 100, 1), 100)
        wait = min(max(p.integer("timeout", 0) or 0, 0), 50, self._config.long_poll_cap)
        await self._await_updates(bot, wait)
        return bot.pending_updates()[:limit], None

    async def send_message(self, bot: BotState, p: Params) -> Answer:
        chat = _chat(bot, p.chat_id())
        text, entities = _formatted(p)
        markup = _reply_markup(p)
        wait = bot.flood.admit(chat.chat["id"])
        if wait > 0:
            raise too_many_requests(whole_seconds(wait))
        sent = SentMessage(
            chat.take_message_id(),
            chat.chat["id"],
            text,
            entities,
            p.text("parse_mode") or None,
            markup,
            int(self._clock()),
            p.text("text"),
        )
        chat.bot_messages[sent.message_id] = sent
        bot.sent.append(sent)
        return message_dict(sent, bot.sender, chat.chat), None

    async def edit_message_text(self, bot: BotState, p: Params) -> Answer:
        if p.has("inline_message_id"):
            raise bad_request("inline messages are not emulated by the sandbox")
        chat = _chat(bot, p.chat_id())
        message_id = p.integer("message_id")
        sent = chat.bot_messages.get(message_id or 0)
        if sent is None:
            known = message_id in chat.customer_messages
            raise bad_request("message can't be edited" if known else "message to edit not found")
        text, entities = _formatted(p)
        markup = _reply_markup(p)
        if (text, entities, markup) == (sent.text, sent.entities, sent.reply_markup):
            raise bad_request(_NOT_MODIFIED)
        sent.text, sent.entities, sent.reply_markup = text, entities, markup
        sent.parse_mode, sent.source_text = p.text("parse_mode") or None, p.text("text")
        sent.edit_date = int(self._clock())
        return message_dict(sent, bot.sender, chat.chat), None

    async def answer_callback_query(self, bot: BotState, p: Params) -> Answer:
        query = bot.callbacks.get(p.required("callback_query_id"))
        now = self._clock()
        if query is None or query.answered or now > query.created_at + self._config.callback_ttl:
            raise bad_request(_QUERY_TOO_OLD)
        query.answered = True
        bot.answers.append(
            CallbackAnswer(
                query.id,
                p.text("text"),
                p.flag("show_alert"),
                p.text("url"),
                p.integer("cache_time", 0) or 0,
                now,
            )
        )
        return True, None

    async def send_chat_action(self, bot: BotState, p: Params) -> Answer:
        _chat(bot, p.chat_id())
        p.required("action")
        return True, None

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_request("bad webhook: invalid webhook URL specified")
        if not self._config.strict_webhook_urls and self._is_local(parts.hostname):
            return
        if parts.scheme != "https":
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if (parts.port or 443) not in WEBHOOK_PORTS:
            raise bad_request(
                "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )

    def _is_local(self, host: str) -> bool:
        if host in self._config.insecure_webhook_hosts:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @staticmethod
    def _allowed_updates(bot: BotState, p: Params) -> list[str]:
        if not p.has("allowed_updates"):
            return list(bot.allowed_updates)  # omitted keeps the previous filter
        value = p.decoded("allowed_updates", "allowed_updates")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad_request("can't parse allowed_updates JSON object")
        return value

    async def _await_updates(self, bot: BotState, wait: float) -> None:
        bot.poll_generation += 1
        generation = bot.poll_generation
        deadline = time.monotonic() + wait
        while not bot.webhook_sender.pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            if bot.poll_generation != generation:
                raise TelegramError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )


def _confirm(bot: BotState, offset: int) -> None:
    ids = [int(p.event_id) for p in bot.webhook_sender.pending()]
    if offset > 0:
        forget = {i for i in ids if i < offset}
    elif offset < 0:
        forget = set(ids[:offset])
    else:
        return
    bot.webhook_sender.discard(lambda p: int(p.event_id) in forget)


def _chat(bot: BotState, chat_id: int | str) -> ChatState:
    chat = bot.chats.get(chat_id) if isinstance(chat_id, int) else None
    if chat is None:
        raise bad_request("chat not found")
    return chat


def _formatted(p: Params) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities after parse_mode, with the length rules applied."""
    text = p.text("text")
    mode = p.text("parse_mode").lower()
    if mode == "html":
        try:
            text, entities = parse_html(text)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from exc
    elif mode:
        raise bad_request(
            f"can't parse entities: parse_mode {p.text('parse_mode')!r} is not "
            "emulated by the sandbox; use HTML"
        )
    else:
        entities = p.decoded("entities", "entities") or []
    if not text.strip():
        raise bad_request("message text is empty")
    if len(text) > MAX_TEXT:  # code points, not UTF-16 units (telegram.md §1.5)
        raise bad_request("message is too long")
    return text, entities


def _reply_markup(p: Params) -> dict[str, Any] | None:
    """The inline keyboard to show on the message, validated; other keyboards are not shown."""
    markup = p.decoded("reply_markup", "reply keyboard markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request(
            'can\'t parse inline keyboard button: field "inline_keyboard" of '
            "the InlineKeyboardMarkup must be an Array of Arrays"
        )
    for button in (b for row in rows for b in row):
        _check_button(button)
    return {"inline_keyboard": rows}


def _check_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    data = button.get("callback_data")
    if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
        raise bad_request("BUTTON_DATA_INVALID")
