"""State of the Telegram emulator: bots, the chats customers opened, updates and records.

Shapes follow the Bot API's User, Chat, Message and Update objects. Message ids are
counted per chat and shared by both sides, as in a private chat. An update stays pending in
the bot's webhook sender (the kit's per-chat queues) until it is delivered to the webhook
with a 2xx, confirmed by a later `getUpdates` offset, or expires.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from easyflow.sandbox.flood import FloodControl, FloodLimits
from easyflow.sandbox.kit import WebhookSender

TOKEN = re.compile(r"[1-9][0-9]{0,19}:[A-Za-z0-9_-]{1,80}")
# `[]` in allowed_updates means every type except these (setWebhook docs).
NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


@dataclass(frozen=True)
class TelegramBot:
    """A bot the sandbox knows from the start."""

    token: str
    username: str | None = None
    first_name: str | None = None


@dataclass
class TelegramConfig:
    """Seeds and tunables of the Telegram emulator."""

    bots: Sequence[str | TelegramBot] = ()
    flood: FloodLimits = field(default_factory=FloodLimits)
    retry_delay_scale: float = 1.0
    callback_ttl: float = 15.0
    update_ttl: float = 86_400.0
    set_webhook_interval: float = 1.0
    # Real Telegram demands HTTPS on 443/80/88/8443; by default the sandbox also takes plain
    # http on any port for loopback addresses and these hosts, so a local hub can receive.
    strict_webhook_urls: bool = False
    insecure_webhook_hosts: tuple[str, ...] = ("localhost", "testserver")
    long_poll_cap: float = 1.0
    delivery_timeout: float = 30.0
    first_update_id: int = 310_000_101


@dataclass
class WebhookConfig:
    url: str = ""
    secret_token: str = ""
    max_connections: int = 40
    ip_address: str = ""


@dataclass
class SentMessage:
    """What the bot sent, as the sandbox recorded it (`text` is plain, entities separate)."""

    message_id: int
    chat_id: int
    text: str
    entities: list[dict[str, Any]]
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    date: int
    source_text: str
    edit_date: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str
    show_alert: bool
    url: str
    cache_time: int
    answered_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DeliveryAttempt:
    """One webhook POST (or the drop of an expired update: `error="expired"`)."""

    update_id: int
    chat_id: int
    attempt: int
    status_code: int | None
    error: str | None
    at: float
    retry_in: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallbackQuery:
    id: str
    created_at: float
    answered: bool = False


@dataclass
class ChatState:
    chat: dict[str, Any]
    next_message_id: int = 1
    customer_messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    bot_messages: dict[int, SentMessage] = field(default_factory=dict)

    def take_message_id(self) -> int:
        self.next_message_id += 1
        return self.next_message_id - 1


@dataclass
class BotState:
    token: str
    user: dict[str, Any]
    flood: FloodControl
    next_update_id: int
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    allowed_updates: list[str] = field(default_factory=list)
    chats: dict[int, ChatState] = field(default_factory=dict)
    sent: list[SentMessage] = field(default_factory=list)
    callbacks: dict[str, CallbackQuery] = field(default_factory=dict)
    answers: list[CallbackAnswer] = field(default_factory=list)
    # Pending updates, per chat, and their delivery: set right after the bot is made.
    webhook_sender: WebhookSender = field(init=False)
    last_error_date: int | None = None
    last_error_message: str | None = None
    next_set_webhook_at: float = 0.0
    poll_generation: int = 0

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    @property
    def sender(self) -> dict[str, Any]:
        """The bot as `from` of its messages."""
        keys = ("id", "is_bot", "first_name", "username")
        return {k: self.user[k] for k in keys if k in self.user}

    def accepts(self, kind: str) -> bool:
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in NOT_DEFAULT_UPDATES

    def queue(self, kind: str, chat_key: int, body: dict[str, Any]) -> dict[str, Any]:
        """Create the next Update; keep it pending unless allowed_updates filters it out.

        `chat_key` orders delivery: the chat id, or the user id for chat-less updates."""
        update_id = self.next_update_id
        self.next_update_id += 1
        payload = {"update_id": update_id, **body}
        if self.accepts(kind):
            self.webhook_sender.send(str(chat_key), str(update_id), payload)
        return payload

    def pending_updates(self) -> list[dict[str, Any]]:
        """The pending Updates in update_id order."""
        return [p.document for p in self.webhook_sender.pending()]

    def deliveries(self) -> list[DeliveryAttempt]:
        return [
            DeliveryAttempt(
                int(a.event_id), int(a.chat), a.attempt, a.status, a.error, a.at, a.retry_in
            )
            for a in self.webhook_sender.log.all()
        ]

    def webhook_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.webhook_sender.pending()),
        }
        if self.webhook.url:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.ip_address:
                info["ip_address"] = self.webhook.ip_address
        if self.allowed_updates:
            info["allowed_updates"] = list(self.allowed_updates)
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info


def bot_user(token: str, username: str | None, first_name: str | None) -> dict[str, Any]:
    """The getMe result of a sandbox bot (a User with the bot fields)."""
    bot_id = int(token.split(":", 1)[0])
    return {
        "id": bot_id,
        "is_bot": True,
        "first_name": first_name or "Hub Sandbox Bot",
        "username": username or f"sandbox_{bot_id}_bot",
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def message_dict(sent: SentMessage, sender: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any]:
    """The Bot API `Message` for something the bot sent."""
    message: dict[str, Any] = {
        "message_id": sent.message_id,
        "from": sender,
        "chat": chat,
        "date": sent.date,
    }
    if sent.edit_date is not None:
        message["edit_date"] = sent.edit_date
    message["text"] = sent.text
    if sent.entities:
        message["entities"] = sent.entities
    if sent.reply_markup is not None:
        message["reply_markup"] = sent.reply_markup
    return message
