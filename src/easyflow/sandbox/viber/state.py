"""Viber sandbox state: bots, their subscribers and what they sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from easyflow.sandbox.kit import RetrySchedule, WebhookSender, Window

# Viber documents no retry schedule for failed callbacks: a few tries with growing waits,
# configurable like everything unverified.
DEFAULT_RETRY = RetrySchedule(delays=(1.0, 5.0, 30.0, 120.0), max_attempts=5)
FORCED_EVENTS = ("message", "subscribed", "unsubscribed")  # cannot be filtered out


@dataclass(frozen=True)
class ViberBot:
    auth_token: str
    name: str = "Hub Sandbox Shop"
    uri: str = "hubsandboxshop"
    id: str = "pa:5791234567890"


@dataclass
class ViberConfig:
    bots: list[ViberBot] = field(default_factory=list)
    retry: RetrySchedule = DEFAULT_RETRY
    retry_delay_scale: float = 1.0
    rate_limit_per_second: int | None = 50  # over it: status 12 tooManyRequests
    receipts: tuple[str, ...] = ("delivered", "seen")  # sent after every send_message
    max_text: int = 7000
    max_sender_name: int = 28


@dataclass
class SentMessage:
    message_token: int
    receiver: str
    type: str
    text: str | None
    sender: dict[str, Any]
    keyboard: dict[str, Any] | None = None
    tracking_data: str | None = None
    welcome: bool = False  # returned in the body of a conversation_started callback


@dataclass
class BotState:
    bot: ViberBot
    sender: WebhookSender
    window: Window
    event_types: tuple[str, ...] = ()
    subscribed: dict[str, dict[str, Any]] = field(default_factory=dict)
    opened: dict[str, dict[str, Any]] = field(default_factory=dict)  # conversation_started only
    sent: list[SentMessage] = field(default_factory=list)


# Public demo credentials: they only open the sandbox.
DEMO_BOT = ViberBot(auth_token="4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f")  # noqa: S106
