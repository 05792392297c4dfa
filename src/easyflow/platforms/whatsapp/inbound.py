"""WhatsApp webhooks: the GET verification, notifications signed with the app secret, parsing.

One notification may batch several `entry[]`, `changes[]`, `messages[]` and `statuses[]`.
`entry[].id` is the WABA id and `metadata.phone_number_id` the receiving number; timestamps
are strings of unix seconds. Messages dedupe on their wamid, statuses on (wamid, status).
Since 2026 a customer may come with a business-scoped user id (`from_user_id`) and no phone
number: the chat is then keyed by that id.

A body that is not a WhatsApp notification (no `object`, `entry` not a list) is a 400; a
message or status inside a well-formed envelope that lacks what the hub needs is stored as
failed (UnprocessableEventError) so Meta does not retry it for a week.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from easyflow.domain.errors import MalformedPayloadError
from easyflow.domain.messaging import (
    Attachment,
    DeliveryState,
    DeliveryUpdate,
    InboundKind,
    InboundMessage,
    Sender,
    WebhookEvent,
    WebhookReply,
)
from easyflow.domain.tenancy import Integration
from easyflow.platforms.fields import (
    MAX_FIELD,
    Invalid,
    ident,
    items,
    obj,
    required,
    text,
    unix_time,
)
from easyflow.platforms.whatsapp.spec import RE_ENGAGEMENT, SPEC, describe_error
from easyflow.webhooks.inbound import HandshakeRefusedError
from easyflow.webhooks.payloads import UnprocessableEventError, decode_json
from easyflow.webhooks.schemes import HmacHeader

SIGNATURE = HmacHeader("X-Hub-Signature-256", prefix="sha256=")
_MEDIA = ("image", "video", "audio", "document", "sticker")
_KIND = {
    "image": "photo",
    "video": "video",
    "audio": "audio",
    "document": "document",
    "sticker": "sticker",
}
_STATES = {s.value: s for s in DeliveryState}


class WhatsAppWebhook:
    """The MessengerWebhook port for WhatsApp."""

    platform = SPEC.name
    verifies_by_get = True
    scheme = SIGNATURE
    ack: dict[str, Any] = {"status": "ok"}  # noqa: RUF012 - read-only by convention

    def signing_secrets(self, integration: Integration) -> Sequence[str]:
        # The HMAC key is the seller's app secret, not the verify token or the access token.
        return (integration.credentials.get("app_secret", ""),)

    def handshake(self, integration: Integration, query: Mapping[str, str]) -> WebhookReply:
        """`hub.challenge` as bare text when mode and verify token match; else 403."""
        token = query.get("hub.verify_token") or ""
        challenge = query.get("hub.challenge")
        matches = [
            hmac.compare_digest(token.encode(), s.encode()) for s in integration.webhook_secrets
        ]
        if query.get("hub.mode") != "subscribe" or not any(matches) or not challenge:
            raise HandshakeRefusedError("WhatsApp verification: wrong mode or verify token")
        return WebhookReply.text(challenge[:MAX_FIELD])

    def challenge(self, integration: Integration, document: Any) -> WebhookReply | None:
        return None

    def parse(self, body: bytes) -> list[InboundMessage]:
        return self.parse_document(decode_json(body))

    def parse_document(self, document: Any) -> list[InboundMessage]:
        return [e for e in self.parse_events(document) if isinstance(e, InboundMessage)]

    def parse_events(self, document: Any) -> list[WebhookEvent]:
        return parse_notification(document)

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply.json(self.ack)


def parse_notification(document: Any) -> list[WebhookEvent]:
    """Every event of a notification; UnprocessableEventError names the first bad one and
    carries the usable rest (`usable`), so intake stores both."""
    if not isinstance(document, dict) or document.get("object") != "whatsapp_business_account":
        raise MalformedPayloadError(
            "not a WhatsApp notification: object is not whatsapp_business_account"
        )
    entries = document.get("entry")
    if not isinstance(entries, list):
        raise MalformedPayloadError("a WhatsApp notification needs an entry array")
    events: list[WebhookEvent] = []
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise MalformedPayloadError("entry[].changes is not an array")
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise MalformedPayloadError("entry[].changes[].value is not an object")
            if change.get("field") == "messages":
                events.extend(_value(change["value"]))
    return events


def _value(value: dict[str, Any]) -> list[WebhookEvent]:
    names = _profiles(value)
    events: list[WebhookEvent] = []
    failed: UnprocessableEventError | None = None

    def message(item: dict[str, Any]) -> WebhookEvent:
        return _message(item, names)

    items_: list[tuple[Any, str, Callable[[dict[str, Any]], WebhookEvent]]] = [
        (m, "message", message) for m in _list(value, "messages")
    ]
    items_ += [(s, "status", _status) for s in _list(value, "statuses")]
    for item, where, parse in items_:
        try:
            events.append(_guarded(item, where, parse))
        except UnprocessableEventError as exc:
            failed = failed or exc  # one bad item must not take the rest of the batch with it
    if failed is not None:
        raise UnprocessableEventError(
            failed.reason,
            event_id=failed.event_id,
            conversation_key=failed.conversation_key,
            usable=tuple(events),
        )
    return events


def _list(value: dict[str, Any], name: str) -> list[Any]:
    try:
        return items(value.get(name), name)
    except Invalid as exc:
        raise MalformedPayloadError(str(exc)) from None


def _guarded(
    item: Any, where: str, parse: Callable[[dict[str, Any]], WebhookEvent]
) -> WebhookEvent:
    try:
        return parse(obj(item, where))
    except Invalid as exc:
        event_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_FIELD:
            raise MalformedPayloadError(f"{where} without an id: {exc}") from None
        key = item.get("from") or item.get("recipient_id") or ""
        raise UnprocessableEventError(
            f"{where} {event_id}: {exc}", event_id=event_id, conversation_key=str(key)[:MAX_FIELD]
        ) from None


def _profiles(value: dict[str, Any]) -> dict[str, str]:
    """Display names by wa_id and by user id (contacts[] of the same value)."""
    names: dict[str, str] = {}
    contacts = value.get("contacts")
    for contact in contacts if isinstance(contacts, list) else ():
        if not isinstance(contact, dict):
            continue
        profile = contact.get("profile")
        name = text(profile.get("name") if isinstance(profile, dict) else None, MAX_FIELD) or ""
        for key in ("wa_id", "user_id"):
            if isinstance(contact.get(key), str):
                names[contact[key]] = name
    return names


def _customer(item: dict[str, Any], phone_field: str, user_field: str, where: str) -> str:
    phone = item.get(phone_field)
    if phone is not None:
        return ident(phone, f"{where}.{phone_field}")
    return ident(required(item, user_field, where), f"{where}.{user_field}")


def _message(message: dict[str, Any], names: dict[str, str]) -> InboundMessage:
    chat_id = _customer(message, "from", "from_user_id", "message")
    kind = text(message.get("type")) or "unknown"
    body, data, attachments = _content(message, kind)
    wamid = ident(required(message, "id", "message"), "message.id")
    return InboundMessage(
        event_id=wamid,
        kind=InboundKind.MESSAGE,
        chat_id=chat_id,
        sender=Sender(external_id=chat_id, display_name=names.get(chat_id, "")),
        text=body,
        occurred_at=unix_time(required(message, "timestamp", "message"), "message.timestamp"),
        platform_message_id=wamid,
        callback_data=data,
        shared_phone=_own_phone(attachments, chat_id),
        attachments=attachments,
    )


def _content(message: dict[str, Any], kind: str) -> tuple[str, str | None, tuple[Attachment, ...]]:
    """Text, button data and attachments of one message."""
    if kind == "text":
        return (
            text(obj(required(message, "text", "message"), "message.text").get("body")) or "",
            None,
            (),
        )
    if kind == "interactive":
        interactive = obj(required(message, "interactive", "message"), "message.interactive")
        reply = interactive.get("button_reply") or interactive.get("list_reply")
        reply = obj(reply, "message.interactive reply")
        return text(reply.get("title")) or "", ident(required(reply, "id", "reply"), "reply.id"), ()
    if kind == "button":  # a template's quick-reply button
        button = obj(required(message, "button", "message"), "message.button")
        return text(button.get("text")) or "", text(button.get("payload")), ()
    if kind in _MEDIA:
        media = obj(required(message, kind, "message"), f"message.{kind}")
        meta = {
            k: v
            for k, v in media.items()
            if k in ("id", "mime_type", "sha256", "filename", "caption", "animated", "voice")
        }
        name = "voice" if kind == "audio" and media.get("voice") is True else _KIND[kind]
        return text(media.get("caption")) or f"[{name}]", None, (Attachment(name, meta),)
    if kind == "location":
        location = obj(required(message, "location", "message"), "message.location")
        return "[location]", None, (Attachment("location", dict(location)),)
    if kind == "contacts":
        cards = items(required(message, "contacts", "message"), "message.contacts")
        return "[contact]", None, tuple(Attachment("contact", obj(c, "contact")) for c in cards)
    return f"[{kind}]", None, ()


def _own_phone(attachments: tuple[Attachment, ...], chat_id: str) -> str | None:
    """The sender's own number: a shared contact card whose wa_id is the sender's.

    Somebody else's card proves nothing about the sender (as on Telegram).
    """
    for card in attachments:
        if card.kind != "contact":
            continue
        phones = card.metadata.get("phones")
        for phone in phones if isinstance(phones, list) else ():
            if isinstance(phone, dict) and phone.get("wa_id") == chat_id:
                number = text(phone.get("phone"), 32)
                return number.strip() if number else None
    return None


def _status(status: dict[str, Any]) -> DeliveryUpdate:
    wamid = ident(required(status, "id", "status"), "status.id")
    name = required(status, "status", "status")
    state = _STATES.get(name) if isinstance(name, str) else None
    if state is None:
        state = DeliveryState.READ if name == "played" else None
    if state is None:
        raise Invalid(f"status.status {name!r} is not sent, delivered, read or failed")
    code, reason = None, None
    for error in items(status.get("errors"), "status.errors")[:1]:
        number, reason = describe_error(obj(error, "status.errors[]"))
        code = str(number) if number is not None else None
    return DeliveryUpdate(
        event_id=f"{wamid}:{name}",
        platform_message_id=wamid,
        chat_id=_customer(status, "recipient_id", "recipient_user_id", "status"),
        state=state,
        occurred_at=unix_time(
            status.get("timestamp") or int(datetime.now(UTC).timestamp()), "status.timestamp"
        ),
        error_code=code,
        error=reason,
        # Accepted, then refused for the window (131047): a template can still reach them.
        window_closed=code == str(RE_ENGAGEMENT),
    )
