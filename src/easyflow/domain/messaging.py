"""Unified messaging models: what every messenger's updates and sends are turned into."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from easyflow.domain.tenancy import Tenant


class InboundKind(enum.StrEnum):
    MESSAGE = "message"
    EDITED = "edited_message"
    CALLBACK = "callback_query"


class ConversationStatus(enum.StrEnum):
    OPEN = "open"
    HANDOVER = "handover"  # waiting for a person; the bot stays silent
    CLOSED = "closed"


class MessageDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageAuthor(enum.StrEnum):
    CUSTOMER = "customer"
    ASSISTANT = "assistant"
    HUMAN = "human"


class DeliveryStatus(enum.StrEnum):
    RECEIVED = "received"  # inbound messages
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"  # the platform reported it reached the customer's device
    READ = "read"  # ... and that the customer opened it
    FAILED = "failed"  # retrying
    DEAD = "dead"  # gave up; can be replayed
    # A send was in flight when its worker died, on a platform without idempotency keys:
    # it may or may not have arrived. Not resent by itself (that could double it); a person
    # reviews and replays it.
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class Sender:
    external_id: str
    display_name: str = ""
    username: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    """Something other than text a customer sent: kept with its metadata, never its bytes."""

    kind: str  # photo, video, voice, audio, document, sticker, contact, location
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One customer action on a messenger, whatever the platform."""

    event_id: str  # the platform's id for the delivery; dedup key per integration
    kind: InboundKind
    chat_id: str
    sender: Sender
    text: str
    occurred_at: datetime
    platform_message_id: str | None = None
    callback_id: str | None = None  # must be answered (Telegram callback_query)
    callback_data: str | None = None
    # The sender's own phone number, when the messenger vouches for it (Telegram: a shared
    # contact whose user_id is the sender). Digits as the platform sent them.
    shared_phone: str | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class Button:
    text: str
    callback_data: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A reply or notification, rendered per platform by its adapter.

    `text` is plain text; adapters escape it for their markup. `buttons` are rows.
    """

    chat_id: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    # The same key on every attempt of one send; a platform that has idempotency keys (VK
    # random_id, ...) delivers a repeated attempt once. Adapters of platforms without them
    # ignore it (PlatformSpec.idempotency_keys says which).
    idempotency_key: str | None = None
    # A pre-approved template (WhatsApp): the only thing some platforms deliver outside their
    # customer-service window. Platforms without templates send `text`.
    template: MessageTemplate | None = None
    # When the customer last wrote in this chat (their latest inbound message), for platforms
    # with a customer-service window (WhatsApp: free text only within 24 h of it). None: not
    # known here, and the platform decides.
    customer_wrote_at: datetime | None = None
    # Ready markup (Telegram HTML): adapters that render HTML send it instead of escaping
    # `text`; others ignore it.
    html: str | None = None
    # The platform reported this message undelivered because the customer-service window is
    # closed (WhatsApp 131047 in a status webhook): send it as the template that may still
    # reach the customer, or refuse it with the reason. Platforms without a window ignore it.
    window_closed: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    platform_message_ids: tuple[str, ...]
    sent_at: datetime
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WebhookRegistration:
    url: str
    secret: str
    allowed_updates: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    url: str
    pending_update_count: int
    last_error_message: str | None = None
    allowed_updates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BotIdentity:
    id: str
    username: str | None
    display_name: str


class EventStatus(enum.StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # could not be processed; kept for inspection and replay


class OutboxKind(enum.StrEnum):
    MESSAGE = "message"
    CALLBACK_ANSWER = "callback_answer"


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    tenant_id: int
    integration_id: int
    external_id: str
    display_name: str
    username: str | None = None
    phone: str | None = None  # proven (digits); personal data, never logged


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    tenant_id: int
    integration_id: int
    contact_id: int
    chat_id: str
    status: ConversationStatus
    last_message_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    id: int
    tenant_id: int
    conversation_id: int
    direction: MessageDirection
    author: MessageAuthor
    text: str
    status: DeliveryStatus
    created_at: datetime
    platform_message_id: str | None = None
    error: str | None = None
    sent_at: datetime | None = None
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class NewInboundEvents:
    """One delivery's events to store: (event_id, conversation_key, message) rows, the raw
    document they came in, and, for content the hub cannot use, the failure to store them
    with (`failed`, never processed)."""

    tenant_id: int
    integration_id: int
    platform: str
    events: tuple[tuple[str, str, InboundMessage], ...]
    raw: dict[str, Any]
    failure: str | None = None


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """A verified, stored webhook delivery waiting to be (or already) processed."""

    id: int
    tenant_id: int
    integration_id: int
    platform: str
    event_id: str
    conversation_key: str  # chat id: events with the same key are processed in order
    message: InboundMessage
    status: EventStatus
    received_at: datetime
    attempts: int = 0
    error: str | None = None  # why the last attempt failed (retried, or failed for good)
    next_attempt_at: datetime | None = None  # a retry's time after a transient failure


@dataclass(frozen=True, slots=True)
class ChatBacklog:
    """A conversation's pending events in arrival order (at least one), with their tenant
    (read with them: one statement tells a worker what to process and for whom)."""

    events: tuple[InboundEvent, ...]
    tenant: Tenant


@dataclass(frozen=True, slots=True)
class OutboxPayload:
    """What an outbox row sends: a message (text, button rows, a template) or the answer to a
    callback query. Stored as JSON (`to_json`); `from_json` also reads the rows of earlier
    versions, plain dicts of chat_id, text, event and callback_id."""

    chat_id: str = ""
    text: str = ""
    buttons: tuple[tuple[Button, ...], ...] = ()
    template: MessageTemplate | None = None
    callback_id: str | None = None  # CALLBACK_ANSWER rows: the query to answer
    event: str | None = None  # the notification this message is (order_shipped), if one
    html: str | None = None  # ready markup (Telegram HTML) for adapters that render it
    # Sent again because the platform reported the customer-service window closed: it goes
    # out as a template now (`OutboundMessage.window_closed`), and is never sent again so.
    window_closed: bool = False

    def message(
        self, idempotency_key: str | None = None, customer_wrote_at: datetime | None = None
    ) -> OutboundMessage:
        return OutboundMessage(
            self.chat_id,
            self.text,
            buttons=self.buttons,
            idempotency_key=idempotency_key,
            template=self.template,
            customer_wrote_at=customer_wrote_at,
            html=self.html,
            window_closed=self.window_closed,
        )

    def to_json(self) -> dict[str, Any]:
        shaped: dict[str, Any] = {"chat_id": self.chat_id, "text": self.text}
        if self.buttons:
            shaped["buttons"] = [[_button_json(b) for b in row] for row in self.buttons]
        if self.template is not None:
            shaped["template"] = {
                "name": self.template.name,
                "language": self.template.language,
                "parameters": list(self.template.parameters),
            }
        if self.callback_id is not None:
            shaped["callback_id"] = self.callback_id
        if self.event is not None:
            shaped["event"] = self.event
        if self.html is not None:
            shaped["html"] = self.html
        if self.window_closed:
            shaped["window_closed"] = True
        return shaped

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> OutboxPayload:
        template = value.get("template")
        callback_id, event, html = value.get("callback_id"), value.get("event"), value.get("html")
        return cls(
            chat_id=str(value.get("chat_id") or ""),
            text=str(value.get("text") or ""),
            buttons=tuple(
                tuple(Button(str(b["text"]), b.get("callback_data"), b.get("url")) for b in row)
                for row in value.get("buttons") or ()
            ),
            template=None
            if not isinstance(template, Mapping)
            else MessageTemplate(
                str(template["name"]),
                str(template["language"]),
                tuple(str(p) for p in template.get("parameters") or ()),
            ),
            callback_id=None if callback_id is None else str(callback_id),
            event=None if event is None else str(event),
            html=None if html is None else str(html),
            window_closed=value.get("window_closed") is True,
        )


def _button_json(button: Button) -> dict[str, str]:
    shaped = {"text": button.text}
    if button.callback_data is not None:
        shaped["callback_data"] = button.callback_data
    if button.url is not None:
        shaped["url"] = button.url
    return shaped


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    tenant_id: int
    integration_id: int
    conversation_id: int | None
    message_id: int | None
    kind: OutboxKind
    payload: OutboxPayload
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    # Set by a claim that took the row over from a worker whose lease lapsed without a
    # result: that attempt may have reached the platform.
    in_doubt: bool = False
    lease_until: datetime | None = None  # a worker holds the row for sending until then
    # The conversation's last inbound message, read with the row where it is sent from (the
    # claim): a platform's customer-service window is judged on it without another query.
    customer_wrote_at: datetime | None = None


# --------------------------------------------------------------------------- handover


class HandoverReason(enum.StrEnum):
    """Why a conversation went to a person."""

    ASKED_FOR_PERSON = "asked_for_person"  # the customer asked for a human
    KEYWORD = "keyword"  # one of the tenant's handover keywords
    MODEL_CANNOT_HELP = "model_cannot_help"  # the assistant could not answer from facts
    MEDIA = "media"  # something the assistant cannot read (a photo, a voice note ...)


class MediaAction(enum.StrEnum):
    REPLY = "reply"  # answer it and stay on (a sticker, a location)
    HANDOVER = "handover"  # tell the customer a person will look at it, and hand over


MEDIA_KINDS = ("photo", "video", "voice", "audio", "document", "sticker", "contact", "location")

# What the assistant can make nothing of goes to a person; what needs no answer of substance
# (a sticker, a location, a contact card) gets one from the bot.
DEFAULT_MEDIA_ACTIONS: Mapping[str, MediaAction] = {
    "photo": MediaAction.HANDOVER,
    "video": MediaAction.HANDOVER,
    "voice": MediaAction.HANDOVER,
    "audio": MediaAction.HANDOVER,
    "document": MediaAction.HANDOVER,
    "sticker": MediaAction.REPLY,
    "contact": MediaAction.REPLY,
    "location": MediaAction.REPLY,
}


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When people answer: on `days` (0 is Monday) from `opens` to `closes`, in `timezone`."""

    timezone: str = "UTC"
    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    opens: time = time(9, 0)
    closes: time = time(18, 0)


@dataclass(frozen=True, slots=True)
class HandoverRules:
    """A tenant's rules for giving a conversation to a person, and telling everyone so.

    Texts left None are the built-in ones, in the customer's language. `after_hours_notice`
    may hold `{opens}`, replaced by the next opening time ("Mon 09:00 (Europe/Moscow)").
    """

    on_request: bool = True  # the customer asks for a person ("operator", "человек" ...)
    keywords: tuple[str, ...] = ()  # the tenant's own words that hand over ("refund" ...)
    on_model_cannot_help: bool = True  # else the bot says `cannot_help` and stays on
    media: Mapping[str, MediaAction] = field(default_factory=lambda: dict(DEFAULT_MEDIA_ACTIONS))
    notice: str | None = None
    after_hours_notice: str | None = None
    cannot_help: str | None = None
    working_hours: WorkingHours | None = None  # None: someone is always there
    # Where operators are told: a chat reached through one of the tenant's Telegram bots.
    operator_integration_id: int | None = None
    operator_chat_id: str | None = None
    # An operator tool's endpoint: every operator event is POSTed there, signed.
    webhook_url: str | None = None


class OperatorEventType(enum.StrEnum):
    HANDOVER = "conversation.handover"
    CUSTOMER_MESSAGE = "conversation.customer_message"
    OPERATOR_REPLY = "conversation.operator_reply"
    RELEASED = "conversation.released"
    CLOSED = "conversation.closed"


@dataclass(frozen=True, slots=True)
class OperatorEvent:
    """Something operators should know, in the tenant's feed and (if set) sent to its webhook."""

    id: int
    tenant_id: int
    conversation_id: int | None
    type: OperatorEventType
    data: dict[str, Any]
    created_at: datetime
    # The webhook delivery: None when no webhook was configured as it happened.
    delivery: DeliveryStatus | None = None
    attempts: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """A conversation as an operator's list shows it."""

    conversation: Conversation
    contact: Contact
    platform: str
    handover_reason: str | None = None
    handed_over_at: datetime | None = None
    last_message: str | None = None


# --------------------------------------------------------------------------- webhook events
# What a messenger's webhook carries besides customer messages, and what the hub answers.


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """A platform-approved template by name, language and its ordered body parameters."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


class DeliveryState(enum.StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DeliveryUpdate:
    """The platform reports what became of a message the hub sent."""

    event_id: str  # dedup key: the same message reaches each state once
    platform_message_id: str
    chat_id: str
    state: DeliveryState
    occurred_at: datetime
    error_code: str | None = None
    error: str | None = None
    # A failure because the customer-service window is closed (WhatsApp 131047): a template
    # could still reach the customer, so the hub sends the message again as one.
    window_closed: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryChange:
    """A stored message moving to a state its platform reported (`DeliveryUpdate`)."""

    platform_message_id: str
    status: DeliveryStatus
    error: str | None = None
    window_closed: bool = False  # DeliveryUpdate.window_closed: sent again as a template


# What a platform's report may move a message to, from which states: only forward, so that
# reports arriving out of order (WhatsApp may send "read" before "delivered") never undo one
# another. "sent" confirms a send recorded as unconfirmed; a failure after the platform took
# the message (WhatsApp's 131047 outside the 24-hour window) is final: dead, replayable.
DELIVERY_STATE_FROM: Mapping[DeliveryStatus, tuple[DeliveryStatus, ...]] = {
    DeliveryStatus.SENT: (DeliveryStatus.PENDING, DeliveryStatus.UNCONFIRMED),
    DeliveryStatus.DELIVERED: (
        DeliveryStatus.PENDING,
        DeliveryStatus.UNCONFIRMED,
        DeliveryStatus.SENT,
    ),
    DeliveryStatus.READ: (
        DeliveryStatus.PENDING,
        DeliveryStatus.UNCONFIRMED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
    ),
    DeliveryStatus.DEAD: (
        DeliveryStatus.PENDING,
        DeliveryStatus.UNCONFIRMED,
        DeliveryStatus.SENT,
        DeliveryStatus.DELIVERED,
    ),
}

# The platform's word for what became of a message, as the hub records it.
REPORTED_STATUS: Mapping[DeliveryState, DeliveryStatus] = {
    DeliveryState.SENT: DeliveryStatus.SENT,
    DeliveryState.DELIVERED: DeliveryStatus.DELIVERED,
    DeliveryState.READ: DeliveryStatus.READ,
    DeliveryState.FAILED: DeliveryStatus.DEAD,
}


class LifecycleKind(enum.StrEnum):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    CONVERSATION_STARTED = "conversation_started"


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """A customer subscribed, unsubscribed or opened the chat (no message yet)."""

    event_id: str
    kind: LifecycleKind
    chat_id: str
    sender: Sender
    occurred_at: datetime
    context: str | None = None  # Viber conversation_started: the deep link's context


WebhookEvent = InboundMessage | DeliveryUpdate | LifecycleEvent


@dataclass(frozen=True, slots=True)
class WebhookSetup:
    """What the seller pastes in the platform's console where the hub cannot register the
    webhook itself (WhatsApp, VK): labelled values, in the console's order."""

    console: str  # where, in words
    fields: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, str]:
        return {"console": self.console, **dict(self.fields)}


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """The HTTP answer a platform expects: JSON, plain text or an empty 200."""

    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200

    @classmethod
    def json(cls, value: Any) -> WebhookReply:
        return cls(json.dumps(value, separators=(",", ":")).encode(), "application/json")

    @classmethod
    def text(cls, value: str) -> WebhookReply:
        return cls(value.encode(), "text/plain; charset=utf-8")

    @classmethod
    def empty(cls) -> WebhookReply:
        return cls()


# --------------------------------------------------------------------------- delivery history


class AttemptOutcome(enum.StrEnum):
    """What became of one attempt to deliver an outbox row (its history, for an operator)."""

    SENT = "sent"  # the platform accepted it
    RETRY = "retry"  # a transient failure: tried again at the row's next_attempt_at
    DEAD = "dead"  # rejected, a bug, or the last attempt: replayable
    UNCONFIRMED = "unconfirmed"  # may or may not have arrived: a person checks, then replays
    REPLAYED = "replayed"  # an operator sent a dead or unconfirmed row again
    # Sent, then reported undelivered because the customer-service window is closed (WhatsApp
    # 131047): queued again to go out as a template (`OutboxPayload.window_closed`), once.
    REQUEUED = "requeued"


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    attempt: int  # the row's attempt count when it ended (0 for a replay)
    outcome: AttemptOutcome
    at: datetime
    error: str | None = None
    platform_message_id: str | None = None
