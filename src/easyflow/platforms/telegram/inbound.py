"""Telegram inbound: one Update (already decoded, see webhooks/payloads.py) into unified messages.

The Update object: https://core.telegram.org/bots/api#update (Bot API 10.0).

Two kinds of bad input, two answers:
- the envelope is wrong (not an object, no integer `update_id`): MalformedPayloadError, a 400;
- the envelope is right but the content is not (a field of the wrong type, an id or a date
  out of range): UnprocessableEventError, which intake stores as a failed event and
  acknowledges. A 4xx/5xx would make Telegram retry it for 24 h and hold up that chat.
Optional display fields of the wrong type (names, username, text) are ignored, not fatal.
Update types the hub never subscribes to (see ALLOWED_UPDATES) give [].

Non-text messages (photo, video, voice, audio, document, sticker, contact, location) become
`Attachment`s with the metadata an operator needs (file_id to fetch the file with getFile,
mime type, size, duration, emoji, coordinates, phone number ...); their bytes are never
fetched. Metadata fields of the wrong type are left out, never fatal. The message text is the
caption, or a marker such as "[photo]" the assistant can read.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from easyflow.domain.errors import MalformedPayloadError
from easyflow.domain.messaging import Attachment, InboundKind, InboundMessage, Sender
from easyflow.platforms.telegram.spec import SPEC
from easyflow.webhooks.payloads import UnprocessableEventError, decode_json
from easyflow.webhooks.schemes import SecretTokenHeader

MAX_ID = 2**63 - 1  # ids are stored as text, but nothing real is wider than a signed int64
MAX_DATE = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime can hold
MAX_FIELD = 255  # names and ids are stored in String(255) columns
_PHONE = re.compile(r"\+?[0-9]{3,31}")
_MEDIA = ("photo", "sticker", "voice", "video", "document", "location", "contact", "audio")
# Telegram's field -> (our kind, what marks it). An animation (GIF) also carries a `document`
# copy of itself, and a venue a `location`: each is read once, as the more specific field.
_ATTACHMENT_FIELDS: tuple[tuple[str, str, dict[str, bool]], ...] = (
    ("photo", "photo", {}),
    ("animation", "video", {"animation": True}),
    ("video", "video", {}),
    ("video_note", "video", {"video_note": True}),
    ("voice", "voice", {}),
    ("audio", "audio", {}),
    ("document", "document", {}),
    ("sticker", "sticker", {}),
    ("contact", "contact", {}),
    ("venue", "location", {"venue": True}),
    ("location", "location", {}),
)
_SHADOWED = {"animation": "document", "venue": "location"}
_STRINGS = (
    "file_id",
    "file_unique_id",
    "mime_type",
    "file_name",
    "emoji",
    "set_name",
    "type",
    "phone_number",
    "first_name",
    "last_name",
    "title",
    "address",
    "performer",
)
_INTS = ("file_size", "duration", "width", "height", "length", "live_period", "user_id")
_FLOATS = ("latitude", "longitude", "horizontal_accuracy")
_FLAGS = ("is_animated", "is_video")
_KINDS = (
    ("message", InboundKind.MESSAGE),
    ("edited_message", InboundKind.EDITED),
    ("callback_query", InboundKind.CALLBACK),
)


class _Invalid(Exception):
    """A field the hub needs is missing or of the wrong type (the message says which)."""


def parse_update(body: bytes) -> list[InboundMessage]:
    """Unified messages in one raw Update body; [] for update types the hub does not handle."""
    return parse_document(decode_json(body))


def parse_document(update: Any) -> list[InboundMessage]:
    """Unified messages in one decoded Update; [] for update types the hub does not handle."""
    if not isinstance(update, dict) or not _is_int(update.get("update_id")):
        raise MalformedPayloadError("an Update must be an object with an integer update_id")
    if not 0 <= update["update_id"] <= MAX_ID:
        raise MalformedPayloadError("update_id is out of range")
    event_id = str(update["update_id"])
    for field, kind in _KINDS:
        if field in update:
            payload = update[field]
            try:
                if kind is InboundKind.CALLBACK:
                    return [_from_callback(event_id, _object(payload, field))]
                return [_from_message(event_id, _object(payload, field), kind)]
            except _Invalid as exc:
                raise UnprocessableEventError(
                    f"update {event_id}: {exc}", event_id=event_id, conversation_key=_key(payload)
                ) from None
    return []


# --------------------------------------------------------------------------- typed access


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"{where} is not an object")
    return value


def _required(obj: dict[str, Any], name: str, where: str) -> Any:
    if name not in obj:
        raise _Invalid(f"missing a field: {where}.{name}")
    return obj[name]


def _id(value: Any, where: str) -> str:
    if not _is_int(value):
        raise _Invalid(f"{where} is not an integer")
    if not -MAX_ID <= value <= MAX_ID:
        raise _Invalid(f"{where} is out of range")
    return str(value)


def _text(value: Any, limit: int | None = None) -> str | None:
    """A string field, or None when absent or not a string (display data: not fatal)."""
    if not isinstance(value, str):
        return None
    return value if limit is None else value[:limit]


def _timestamp(value: Any, where: str) -> datetime:
    # 0 or absent: an InaccessibleMessage (date 0) or a message without a date.
    if value is None or value == 0:
        return datetime.now(UTC)
    if not _is_int(value):
        raise _Invalid(f"{where} is not an integer unix time")
    if not 0 < value <= MAX_DATE:
        raise _Invalid(f"{where} is out of range")
    return datetime.fromtimestamp(value, UTC)


def _key(payload: Any) -> str:
    """The chat id of an unprocessable update when it can be read: failed events group by it."""
    try:
        obj = _object(payload, "update")
        chat = obj.get("chat") or (obj.get("message") or {}).get("chat") or obj.get("from")
        return _id(_object(chat, "chat").get("id"), "chat.id")
    except (_Invalid, AttributeError):
        return ""


# --------------------------------------------------------------------------- shapes


def _sender(user: dict[str, Any], where: str) -> Sender:
    parts = (_text(user.get("first_name")), _text(user.get("last_name")))
    return Sender(
        external_id=_id(_required(user, "id", where), f"{where}.id"),
        display_name=" ".join(p for p in parts if p)[:MAX_FIELD],
        username=_text(user.get("username"), MAX_FIELD),
        language=_text(user.get("language_code"), 32),
    )


def _text_of(message: dict[str, Any]) -> str:
    for field in ("text", "caption"):
        text = _text(message.get(field))
        if text is not None:
            return text
    found = next((k for k in _MEDIA if k in message), "message")
    return f"[{found}]"


def _shared_phone(message: dict[str, Any], sender_id: str | None) -> str | None:
    """The sender's own number: a shared contact whose user_id is the sender.

    A contact card of somebody else (or of nobody on Telegram) proves nothing about the sender.
    """
    contact = message.get("contact")
    if sender_id is None or not isinstance(contact, dict):
        return None
    user_id = contact.get("user_id")
    phone = _text(contact.get("phone_number"))
    if not _is_int(user_id) or str(user_id) != sender_id or phone is None:
        return None
    phone = phone.strip()
    return phone if _PHONE.fullmatch(phone) else None


def _attachments(message: dict[str, Any]) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    skip = {_SHADOWED[f] for f in _SHADOWED if isinstance(message.get(f), dict)}
    for field, kind, marks in _ATTACHMENT_FIELDS:
        value = message.get(field)
        if field in skip:
            continue
        if field == "photo" and isinstance(value, list):
            # PhotoSize variants, smallest first: the largest is the photo.
            value = next((size for size in reversed(value) if isinstance(size, dict)), None)
        if field == "venue" and isinstance(value, dict):
            location = value.get("location")
            value = {**(location if isinstance(location, dict) else {}), **value}
        if isinstance(value, dict):
            found.append(Attachment(kind, {**_metadata(value), **marks}))
    return tuple(found)


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """The fields an operator may need, each only when it has its documented type."""
    data: dict[str, Any] = {}
    for name in _STRINGS:
        if (text := _text(obj.get(name), MAX_FIELD)) is not None:
            data[name] = text
    for name in _INTS:
        if _is_int(obj.get(name)) and -MAX_ID <= obj[name] <= MAX_ID:
            data[name] = obj[name]
    for name in _FLOATS:
        value = obj.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            # Compared before converting: a huge int overflows float(); NaN compares False.
            data.update({name: float(value)} if abs(value) < 1e6 else {})
    for name in _FLAGS:
        if isinstance(obj.get(name), bool):
            data[name] = obj[name]
    return data


def _from_message(event_id: str, message: dict[str, Any], kind: InboundKind) -> InboundMessage:
    where = kind.value
    chat = _object(_required(message, "chat", where), f"{where}.chat")
    chat_id = _id(_required(chat, "id", f"{where}.chat"), f"{where}.chat.id")
    # Channel posts and some service messages have no `from`: the chat speaks.
    user = message.get("from")
    sender = _sender(_object(user, f"{where}.from"), f"{where}.from") if user is not None else None
    date_field = "edit_date" if kind is InboundKind.EDITED else "date"
    return InboundMessage(
        event_id=event_id,
        kind=kind,
        chat_id=chat_id,
        sender=sender or Sender(external_id=chat_id),
        text=_text_of(message),
        occurred_at=_timestamp(message.get(date_field), f"{where}.{date_field}"),
        platform_message_id=_id(_required(message, "message_id", where), f"{where}.message_id"),
        shared_phone=_shared_phone(message, sender.external_id if sender else None),
        attachments=_attachments(message),
    )


def _from_callback(event_id: str, query: dict[str, Any]) -> InboundMessage:
    # An old callback's message may be an InaccessibleMessage (date 0, no text), but it
    # still names the chat; inline-mode callbacks have no message: answer in the user's chat.
    user = _object(_required(query, "from", "callback_query"), "callback_query.from")
    sender = _sender(user, "callback_query.from")
    message = _object(query.get("message") or {}, "callback_query.message")
    chat_id = sender.external_id
    if "chat" in message:
        chat = _object(message["chat"], "callback_query.message.chat")
        chat_id = _id(_required(chat, "id", "callback_query.message.chat"), "chat.id")
    message_id = message.get("message_id")
    data = _text(query.get("data"))
    callback_id = _required(query, "id", "callback_query")
    if not isinstance(callback_id, str) or not 0 < len(callback_id) <= MAX_FIELD:
        raise _Invalid("callback_query.id is not a string")
    return InboundMessage(
        event_id=event_id,
        kind=InboundKind.CALLBACK,
        chat_id=chat_id,
        sender=sender,
        text=data or "",
        occurred_at=datetime.now(UTC),
        platform_message_id=_id(message_id, "message_id") if message_id else None,
        callback_id=callback_id,
        callback_data=data,
    )


class TelegramWebhook:
    """The WebhookParser port: scheme, update parsing and the `{"ok": true}` answer."""

    platform = SPEC.name
    scheme = SecretTokenHeader("X-Telegram-Bot-Api-Secret-Token")
    ack: dict[str, Any] = {"ok": True}  # noqa: RUF012 - read-only by convention

    def parse(self, body: bytes) -> list[InboundMessage]:
        return parse_update(body)

    def parse_document(self, document: Any) -> list[InboundMessage]:
        return parse_document(document)
