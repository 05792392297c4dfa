"""WhatsApp sandbox state: business numbers, customers' service windows, what was sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from easyflow.sandbox.kit import RetrySchedule, WebhookSender, Window

# Meta retries a failed notification with decreasing frequency for up to 7 days.
DEFAULT_RETRY = RetrySchedule(
    delays=(1.0, 2.0, 4.0, 8.0, 16.0, 60.0, 300.0, 3600.0), max_attempts=None, horizon=7 * 86_400
)
# Approved templates of the demo account: name -> number of body parameters. `customer_reply`
# ("You have a reply from the shop: {{1}}") is the fallback for answers outside the window.
DEFAULT_TEMPLATES = {
    "hello_world": 0,
    "order_shipped": 2,
    "payment_received": 2,
    "order_ready": 1,
    "customer_reply": 1,
}


@dataclass(frozen=True)
class WhatsAppNumber:
    phone_number_id: str
    access_token: str
    app_secret: str
    display_phone_number: str = "15550783881"
    verified_name: str = "Hub Sandbox Shop"
    waba_id: str = "102290129340398"


@dataclass
class WhatsAppConfig:
    numbers: list[WhatsAppNumber] = field(default_factory=list)
    retry: RetrySchedule = DEFAULT_RETRY
    retry_delay_scale: float = 1.0
    window_seconds: float = 24 * 3600  # the customer-service window
    messages_per_second: int | None = 80  # per number; over it: 130429
    statuses: tuple[str, ...] = ("sent", "delivered")  # emitted after every accepted send
    templates: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    escape_slashes: bool = True  # Meta's bodies escape "/" as "\/" (and non-ASCII as \uXXXX)
    # Meta may deliver a status twice, and `read` before `delivered`: receivers must cope.
    duplicate_statuses: bool = False
    read_before_delivered: bool = False


@dataclass
class SentMessage:
    id: str  # wamid
    to: str
    type: str
    payload: dict[str, Any]
    status: str = "accepted"  # then sent, delivered, read or failed

    @property
    def text(self) -> str | None:
        if self.type == "text":
            return str(self.payload["text"]["body"])
        if self.type == "interactive":
            return str(self.payload["interactive"]["body"]["text"])
        return None


@dataclass
class NumberState:
    number: WhatsAppNumber
    sender: WebhookSender
    window: Window
    verify_token: str | None = None
    last_inbound: dict[str, float] = field(default_factory=dict)  # wa_id -> time
    sent: list[SentMessage] = field(default_factory=list)


# Public demo credentials: they only open the sandbox.
DEMO_NUMBER = WhatsAppNumber(
    phone_number_id="106540352242922",
    access_token="EAAsandboxDemoAccessToken0000000000",  # noqa: S106
    app_secret="0123456789abcdef0123456789abcdef",  # noqa: S106
)
