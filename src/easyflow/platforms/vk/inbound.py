"""VK Callback API: the `secret` in the body, the `confirmation` handshake, event parsing.

Every event is a POST whose JSON carries `type`, `group_id`, `event_id` and, when a secret
key is set, `secret` (compared in constant time; not a signature: the body is unsigned).
`confirmation` is answered with the integration's confirmation string as text/plain; every
other event with the plain body `ok` — anything else makes VK resend it and, after a few
failures, stop sending. `event_id` is the dedup key (retries carry `X-Retry-Counter`; they
are deduplicated, never dropped).

`message_new` (object `{message, client_info}` since 5.103; older versions put the message
directly in `object`) is a customer message; `payload` is a JSON string set by the button
pressed. `message_event` is a callback button: answered with sendMessageEventAnswer, whose
three ids travel as the callback id. Other types are acknowledged and ignored.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from easyflow.domain.errors import MalformedPayloadError, WebhookSignatureError
from easyflow.domain.messaging import (
    Attachment,
    InboundKind,
    InboundMessage,
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
    items,
    obj,
    required,
    text,
    unix_time,
)
from easyflow.platforms.vk.messenger import callback_id
from easyflow.platforms.vk.spec import SPEC
from easyflow.webhooks.inbound import MethodNotAllowedError
from easyflow.webhooks.payloads import UnprocessableEventError, decode_json
from easyflow.webhooks.schemes import BodySecretField

SECRET = BodySecretField("secret")
_ATTACHMENT_KINDS = {
    "photo": "photo",
    "video": "video",
    "audio": "audio",
    "audio_message": "voice",
    "doc": "document",
    "sticker": "sticker",
}


class VkWebhook:
    """The MessengerWebhook port for VK."""

    platform = SPEC.name
    verifies_by_get = False
    scheme = SECRET
    ack: dict[str, Any] = {}  # noqa: RUF012 - VK's answer is the text `ok` (see `reply`)

    def signing_secrets(self, integration: Integration) -> Sequence[str]:
        return integration.webhook_secrets

    def handshake(self, integration: Integration, query: Mapping[str, str]) -> WebhookReply:
        raise MethodNotAllowedError("VK sends no GET to its callback server")

    def challenge(self, integration: Integration, document: Any) -> WebhookReply | None:
        """`confirmation` for this integration's community: its confirmation string."""
        if not isinstance(document, dict) or document.get("type") != "confirmation":
            return None
        expected = integration.credentials.get("group_id", "")
        if not hmac.compare_digest(str(document.get("group_id")).encode(), expected.encode()):
            raise WebhookSignatureError("VK confirmation for another community")
        return WebhookReply.text(integration.credentials.get("confirmation", ""))

    def parse(self, body: bytes) -> list[InboundMessage]:
        return self.parse_document(decode_json(body))

    def parse_document(self, document: Any) -> list[InboundMessage]:
        return [e for e in self.parse_events(document) if isinstance(e, InboundMessage)]

    def parse_events(self, document: Any) -> list[WebhookEvent]:
        return parse_callback(document)

    def reply(self, events: Sequence[WebhookEvent]) -> WebhookReply:
        return WebhookReply.text("ok")


def parse_callback(document: Any) -> list[WebhookEvent]:
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        raise MalformedPayloadError("a VK callback is an object with a string type")
    kind = document["type"]
    event_id = document.get("event_id")
    if kind == "confirmation":
        return []
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_FIELD:
        raise MalformedPayloadError("a VK callback needs a string event_id")
    if kind not in ("message_new", "message_event"):
        return []  # acknowledged with `ok`: the community may send any event type
    payload = document.get("object")
    try:
        if kind == "message_event":
            return [_event(event_id, obj(payload, "object"))]
        return [_message(event_id, obj(payload, "object"))]
    except Invalid as exc:
        raise UnprocessableEventError(
            f"{kind} {event_id}: {exc}", event_id=event_id, conversation_key=_peer(payload)
        ) from None


def _peer(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    inner = payload.get("message")
    value = (inner if isinstance(inner, dict) else payload).get("peer_id")
    return str(value) if isinstance(value, int) else ""


def _message(event_id: str, payload: dict[str, Any]) -> InboundMessage:
    # Since 5.103 the message is under `message`; older API versions put it in `object`.
    message = obj(payload["message"], "object.message") if "message" in payload else payload
    peer = ident(required(message, "peer_id", "message"), "message.peer_id")
    sender = ident(required(message, "from_id", "message"), "message.from_id")
    attachments = tuple(_attachment(a) for a in items(message.get("attachments"), "attachments"))
    if isinstance(message.get("geo"), dict):
        attachments += (Attachment("location", message["geo"]),)
    body = text(message.get("text")) or ""
    if not body and attachments:
        body = f"[{attachments[0].kind}]"
    # In group chats a community bot often sees id 0: (peer, conversation_message_id) names it.
    number = _number(message.get("conversation_message_id")) or _number(message.get("id"))
    return InboundMessage(
        event_id=event_id,
        kind=InboundKind.MESSAGE,
        chat_id=peer,
        sender=Sender(external_id=sender),
        text=body,
        occurred_at=unix_time(required(message, "date", "message"), "message.date"),
        platform_message_id=str(number) if number else None,
        callback_data=_button_data(message.get("payload")),
        attachments=attachments,
    )


def _event(event_id: str, payload: dict[str, Any]) -> InboundMessage:
    user = ident(required(payload, "user_id", "object"), "object.user_id")
    peer = ident(required(payload, "peer_id", "object"), "object.peer_id")
    answer_id = ident(required(payload, "event_id", "object"), "object.event_id")
    data = _button_data(payload.get("payload"))
    number = _number(payload.get("conversation_message_id"))
    return InboundMessage(
        event_id=event_id,
        kind=InboundKind.CALLBACK,
        chat_id=peer,
        sender=Sender(external_id=user),
        text=data or "",
        occurred_at=datetime.now(UTC),
        platform_message_id=str(number) if number else None,
        callback_id=callback_id(answer_id, user, peer),
        callback_data=data,
    )


def _number(value: Any) -> int | None:
    """A message number when it is a positive int64 (0 means unknown in group chats)."""
    return value if is_int(value) and 0 < value <= MAX_INT else None


def _button_data(payload: Any) -> str | None:
    """The `cmd` our keyboards put in a payload, else the payload as JSON text.

    `payload` is a JSON-encoded string in `message_new`, and arrives as an object in
    `message_event` in practice: both are accepted.
    """
    if payload is None or payload == "":
        return None
    value = payload
    if isinstance(payload, str):
        try:
            value = json.loads(payload)
        except ValueError:
            return payload[:MAX_FIELD]
    if isinstance(value, dict) and isinstance(value.get("cmd"), str):
        return str(value["cmd"])[:MAX_FIELD]
    return json.dumps(value, ensure_ascii=False)[:MAX_FIELD]


def _attachment(item: Any) -> Attachment:
    attachment = obj(item, "attachments[]")
    kind = text(attachment.get("type")) or "document"
    inner = attachment.get(kind)
    metadata = dict(inner) if isinstance(inner, dict) else {}
    return Attachment(_ATTACHMENT_KINDS.get(kind, kind), metadata)
