"""Viber callbacks: `X-Viber-Content-Signature` over the raw body, and event parsing.

The signature is the lowercase hex HMAC-SHA256 of the exact bytes with the bot's auth token as
the key, no prefix. `timestamp` is epoch milliseconds and `message_token` a 64-bit integer
(kept as an int, never a float). `subscribed` and `conversation_started` carry a `user`
object; `unsubscribed`, `delivered`, `seen` and `failed` a flat `user_id`. Dedup key: the
event name with its `message_token`. The `webhook` probe sent during set_webhook is answered
200 and stores nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from easyflow.domain.errors import MalformedPayloadError
from easyflow.domain.messaging import (
    Attachment,
    DeliveryState,
    DeliveryUpdate,
    InboundKind,
    InboundMessage,
    LifecycleEvent,
    LifecycleKind,
    Sender,
    WebhookEvent,
    WebhookReply,
)
from easyflow.domain.tenancy import Integration
from easyflow.platforms.fields import (
    MAX_FIELD,
    MAX_INT,
    Invalid,
    ident,
    is_int,
    obj,
    required,
    text,
    unix_time,
)
from easyflow.platforms.viber.spec import SPEC
from easyflow.webhooks.inbound import MethodNotAllowedError
from easyflow.webhooks.payloads import UnprocessableEventError, decode_json
from easyflow.webhooks.schemes import HmacHeader

SIGNATURE = HmacHeader("X-Viber-Content-Signature")
_DELIVERY = {
    "delivered": DeliveryState.DELIVERED,
    "seen": DeliveryState.READ,
    "failed": DeliveryState.FAILED,
}
_LIFECYCLE = {k.value: k for k in LifecycleKind}
_MEDIA = {"picture": "photo", "video": "video", "file": "document", "sticker": "sticker"}
_MEDIA_FIELDS: tuple[str, ...] = (
    "media",
    "thumbnail",
    "file_name",
    "size",
    "duration",
    "sticker_id",
)
_IGNORED = ("webhook", "client_status", "action")


class ViberWebhook:
    """The MessengerWebhook port for Viber."""

    platform = SPEC.name
    verifies_by_get = False
    scheme = SIGNATURE
    ack: dict[str, Any] = {}  # noqa: RUF012 - Viber wants a 200; the body is ignored

    def signing_secrets(self, integration: Integration) -> Sequence[str]:
        return (integration.credentials.get("auth_token", ""),)

    def handshake(self, integration: Integration, query: Mapping[str, str]) -> WebhookReply:
        raise MethodNotAllowedError("Viber sends no GET to its webhook")

    def challenge(self, integration: Integration, document: Any) -> WebhookReply | None:
        return None  # the `webhook` probe is authenticated and ignored like any event

    def parse(self, body: bytes) -> list[InboundMessage]:
        return self.parse_document(decode_json(body))

    def parse_document(self, document: Any) -> list[InboundMessage]:
        return [e for e in self.parse_events(document) if isinstance(e, InboundMessage)]

    def parse_events(self, document: Any) -> list[WebhookEvent]:
        return parse_callback(document)

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply.empty()


def parse_callback(document: Any) -> list[WebhookEvent]:
    if not isinstance(document, dict) or not isinstance(document.get("event"), str):
        raise MalformedPayloadError("a Viber callback is an object with a string event")
    event = document["event"]
    token = document.get("message_token")
    if event in _IGNORED:
        return []
    if not isinstance(token, int) or not is_int(token) or not 0 <= token <= MAX_INT:
        raise MalformedPayloadError("a Viber callback needs an integer message_token")
    event_id = f"{event}:{token}"
    try:
        at = unix_time(required(document, "timestamp", "callback"), "timestamp", millis=True)
        if event == "message":
            return [_message(event_id, token, at, document)]
        if event in _DELIVERY:
            user = ident(required(document, "user_id", event), f"{event}.user_id")
            error = text(document.get("desc"), MAX_FIELD) if event == "failed" else None
            return [DeliveryUpdate(event_id, str(token), user, _DELIVERY[event], at, error=error)]
        if event in _LIFECYCLE:
            return [_lifecycle(event_id, event, at, document)]
    except Invalid as exc:
        raise UnprocessableEventError(
            f"{event} {token}: {exc}", event_id=event_id, conversation_key=_key(document)
        ) from None
    return []


def _key(document: dict[str, Any]) -> str:
    """The customer of an unprocessable callback when it can be read: failed events group by it."""
    for holder, field in (
        (document, "user_id"),
        (document.get("sender"), "id"),
        (document.get("user"), "id"),
    ):
        value = holder.get(field) if isinstance(holder, dict) else None
        if isinstance(value, str) and 0 < len(value) <= MAX_FIELD:
            return value
    return ""


def _user(user: dict[str, Any], where: str) -> Sender:
    return Sender(
        external_id=ident(required(user, "id", where), f"{where}.id"),
        display_name=text(user.get("name"), MAX_FIELD) or "",
        language=text(user.get("language"), 32),
    )


def _lifecycle(event_id: str, event: str, at: Any, document: dict[str, Any]) -> LifecycleEvent:
    if event == "unsubscribed":
        sender = Sender(external_id=ident(required(document, "user_id", event), "user_id"))
    else:
        sender = _user(obj(required(document, "user", event), f"{event}.user"), f"{event}.user")
    return LifecycleEvent(
        event_id=event_id,
        kind=_LIFECYCLE[event],
        chat_id=sender.external_id,
        sender=sender,
        occurred_at=at,
        context=text(document.get("context"), MAX_FIELD),
    )


def _message(event_id: str, token: int, at: Any, document: dict[str, Any]) -> InboundMessage:
    sender = _user(obj(required(document, "sender", "message"), "sender"), "sender")
    message = obj(required(document, "message", "message"), "message")
    kind = text(message.get("type")) or ""
    body = text(message.get("text")) or ""
    attachments: tuple[Attachment, ...] = ()
    if kind in _MEDIA:
        meta = {k: message[k] for k in _MEDIA_FIELDS if k in message}
        attachments = (Attachment(_MEDIA[kind], meta),)
    elif kind == "contact":
        attachments = (
            Attachment("contact", obj(required(message, "contact", "message"), "contact")),
        )
    elif kind == "location":
        attachments = (
            Attachment("location", obj(required(message, "location", "message"), "location")),
        )
    elif kind == "url":
        body = body or text(message.get("media")) or ""
    elif kind != "text":
        raise Invalid(f"message.type {kind!r} is not one Viber sends")
    if not body and attachments:
        body = f"[{attachments[0].kind}]"
    return InboundMessage(
        event_id=event_id,
        kind=InboundKind.MESSAGE,
        chat_id=sender.external_id,
        sender=sender,
        text=body,
        occurred_at=at,
        platform_message_id=str(token),
        attachments=attachments,
    )
