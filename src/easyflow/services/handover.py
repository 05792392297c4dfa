"""A human in the loop: when a conversation goes to a person, and who is told.

The inbound processor calls three hooks, each inside the transaction that records the
customer's message, so the handover, the customer's notice, the operators' notification and
the feed event are committed together with it or not at all:

- `before_reply`: the tenant's rules that need no model: the customer asks for a person, a
  handover keyword, a photo or voice note the assistant cannot read (handed over with a word
  to the customer), a sticker or location (answered by the bot, which stays on);
- `after_reply`: the assistant could not answer: handed over (or, if the tenant turned that
  off, a "cannot help" answer);
- `customer_wrote`: a message while a person has the conversation: stored, operators told,
  the bot silent.

Operators are told through the outbox (a Telegram chat of the tenant's choosing, reached by
one of its bots) and through the feed of operator events, which a webhook delivers
(services/operator_events.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from easyflow.domain.ai import ChatReply
from easyflow.domain.messaging import (
    Contact,
    Conversation,
    DeliveryStatus,
    HandoverReason,
    HandoverRules,
    InboundEvent,
    InboundMessage,
    MediaAction,
    MessageAuthor,
    MessageDirection,
    OperatorEventType,
    OutboxKind,
    OutboxPayload,
    StoredMessage,
)
from easyflow.domain.tenancy import Tenant
from easyflow.ports import UnitOfWork
from easyflow.services import handover_texts as texts

log = structlog.get_logger("easyflow.handover")

MAX_CACHED = 10_000  # tenants whose rules are kept in process
PREVIEW = 500  # characters of a customer's message quoted in an operator notification


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Channel:
    """Where a conversation's messages go: its integration and chat."""

    tenant_id: int
    integration_id: int
    conversation_id: int
    chat_id: str
    platform: str | None = None


def message_data(message: StoredMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "author": message.author.value,
        "text": message.text,
        "attachments": [
            {"kind": a.kind, "metadata": dict(a.metadata)} for a in message.attachments
        ],
        "created_at": message.created_at.isoformat(),
    }


def conversation_data(
    conversation: Conversation, contact: Contact, platform: str | None = None
) -> dict[str, Any]:
    return {
        "conversation_id": conversation.id,
        "integration_id": conversation.integration_id,
        "platform": platform,
        "chat_id": conversation.chat_id,
        "contact": {
            "id": contact.id,
            "name": contact.display_name,
            "username": contact.username,
        },
    }


def _who(contact: Contact) -> str:
    name = contact.display_name or contact.external_id
    return f"{name} (@{contact.username})" if contact.username else name


def _quote(message: StoredMessage) -> str:
    kinds = ", ".join(a.kind for a in message.attachments)
    text = message.text[:PREVIEW]
    return f"{text} [{kinds}]" if kinds and not text.startswith("[") else text


class HandoverService:
    def __init__(
        self, clock: Callable[[], datetime] = _now, rules_cache_seconds: float = 10.0
    ) -> None:
        self._clock = clock
        self._cache_for = rules_cache_seconds
        self._rules: dict[int, tuple[float, HandoverRules]] = {}

    async def rules(self, uow: UnitOfWork, tenant_id: int) -> HandoverRules:
        """The tenant's rules, kept in process for a few seconds: every message needs them,
        and a read per message is a round trip the processing budget has no room for. A
        change made in this process applies at once (`forget`), elsewhere within the TTL."""
        now = time.monotonic()
        cached = self._rules.get(tenant_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        rules = await uow.handover.rules(tenant_id)
        if len(self._rules) >= MAX_CACHED:
            self._rules.clear()  # bounded memory; the next reads refill what is in use
        self._rules[tenant_id] = (now + self._cache_for, rules)
        return rules

    def forget(self, tenant_id: int) -> None:
        self._rules.pop(tenant_id, None)

    # ----------------------------------------------------------------------- hooks

    async def before_reply(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        event: InboundEvent,
        conversation: Conversation,
        contact: Contact,
        stored: StoredMessage,
    ) -> list[int] | None:
        """Outbox ids when the rules answered the message; None: the assistant answers it."""
        rules = await self.rules(uow, tenant.id)
        message = event.message
        if _from_operators(rules, event):
            return []  # the operators' own chat with the bot: nobody to answer
        lang = texts.language(message)
        channel = Channel(
            tenant.id, event.integration_id, conversation.id, message.chat_id, event.platform
        )
        if rules.on_request and texts.asks_for_person(message.text):
            return await self.hand_over(
                uow, rules, channel, conversation, contact, stored,
                HandoverReason.ASKED_FOR_PERSON, "", texts.notice(rules, lang, self._clock()),
            )  # fmt: skip
        if keyword := texts.keyword_in(rules.keywords, message.text):
            return await self.hand_over(
                uow, rules, channel, conversation, contact, stored,
                HandoverReason.KEYWORD, keyword, texts.notice(rules, lang, self._clock()),
            )  # fmt: skip
        return await self._media(uow, rules, channel, conversation, contact, stored, message, lang)

    async def after_reply(
        self, uow: UnitOfWork, event: InboundEvent, conversation_id: int, reply: ChatReply
    ) -> list[int]:
        """The assistant handed over (or had no answer): tell the customer and the operators."""
        tenant_id = event.tenant_id
        rules = await self.rules(uow, tenant_id)
        lang = texts.language(event.message)
        channel = Channel(
            tenant_id, event.integration_id, conversation_id, event.message.chat_id, event.platform
        )
        if not reply.text and not rules.on_model_cannot_help:
            return [await self._say(uow, channel, rules.cannot_help or _cannot_help(lang))]
        conversation = await uow.conversations.get(tenant_id, conversation_id)
        contact = await uow.contacts.get(tenant_id, conversation.contact_id)
        # The model's own words when it gave some (the phone-guessing lock-out says why).
        notice = reply.text or texts.notice(rules, lang, self._clock())
        last = await uow.messages.history(tenant_id, conversation_id, 1)
        return await self.hand_over(
            uow, rules, channel, conversation, contact, last[-1] if last else None,
            HandoverReason.MODEL_CANNOT_HELP, reply.reason, notice,
        )  # fmt: skip

    async def customer_wrote(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        event: InboundEvent,
        conversation: Conversation,
        contact: Contact,
        stored: StoredMessage,
    ) -> list[int]:
        """A message while a person has the conversation: the operators hear of it."""
        rules = await self.rules(uow, tenant.id)
        data = conversation_data(conversation, contact, event.platform)
        data["message"] = message_data(stored)
        line = f"💬 #{conversation.id} {_who(contact)}: {_quote(stored)}"
        return await self.notify(
            uow, rules, tenant.id, conversation.id, OperatorEventType.CUSTOMER_MESSAGE, data, line
        )

    # ----------------------------------------------------------------------- building blocks

    async def hand_over(
        self,
        uow: UnitOfWork,
        rules: HandoverRules,
        channel: Channel,
        conversation: Conversation,
        contact: Contact,
        stored: StoredMessage | None,
        reason: HandoverReason,
        detail: str,
        notice: str,
    ) -> list[int]:
        """Hand the conversation to a person: status, the customer's notice, operators told."""
        recorded = f"{reason.value}: {detail}" if detail else reason.value
        await uow.handover.hand_over(
            channel.tenant_id, channel.conversation_id, recorded, self._clock()
        )
        log.info(
            "conversation handed over", conversation_id=channel.conversation_id, reason=recorded
        )
        ids = [await self._say(uow, channel, notice)]
        data = conversation_data(conversation, contact, channel.platform) | {
            "reason": reason.value,
            "detail": detail,
            "message": message_data(stored) if stored else None,
        }
        line = (
            f"🙋 #{conversation.id} {_who(contact)} needs a person ({_reason_text(reason, detail)})"
        )
        if stored is not None:
            line += f"\n“{_quote(stored)}”"
        line += f'\nReply: easyflow conversations reply {conversation.id} "…"'
        ids += await self.notify(
            uow, rules, channel.tenant_id, conversation.id, OperatorEventType.HANDOVER, data, line
        )
        return ids

    async def notify(
        self,
        uow: UnitOfWork,
        rules: HandoverRules,
        tenant_id: int,
        conversation_id: int | None,
        type_: OperatorEventType,
        data: dict[str, Any],
        line: str,
    ) -> list[int]:
        """An event in the feed (sent to the webhook, if any) and a line in the operators'
        Telegram chat (if chosen); the outbox ids to send."""
        await uow.handover.add_event(
            tenant_id, conversation_id, type_, data, deliver=bool(rules.webhook_url)
        )
        if rules.operator_integration_id is None or not rules.operator_chat_id:
            return []
        # No conversation: the operators' chat has its own order, apart from the customer's.
        item = await uow.outbox.add(
            tenant_id,
            rules.operator_integration_id,
            OutboxKind.MESSAGE,
            OutboxPayload(chat_id=rules.operator_chat_id, text=line[:4000]),
        )
        return [item.id]

    async def _media(
        self,
        uow: UnitOfWork,
        rules: HandoverRules,
        channel: Channel,
        conversation: Conversation,
        contact: Contact,
        stored: StoredMessage,
        message: InboundMessage,
        lang: str,
    ) -> list[int] | None:
        if not message.attachments:
            return None
        kind = message.attachments[0].kind
        if kind == "contact" and message.shared_phone:
            return None  # the sender's own number: the assistant confirms it and their orders
        if rules.media.get(kind, MediaAction.HANDOVER) is MediaAction.REPLY:
            return [await self._say(uow, channel, texts.media_reply(kind, lang))]
        thanks = texts.TEXTS[lang]["media_handover"].format(what=texts.what(kind, lang))
        notice = f"{thanks} {texts.notice(rules, lang, self._clock())}"
        return await self.hand_over(
            uow, rules, channel, conversation, contact, stored, HandoverReason.MEDIA, kind, notice
        )

    async def _say(self, uow: UnitOfWork, channel: Channel, text: str) -> int:
        """A message from the bot to the customer, stored and queued."""
        stored = await uow.messages.add(
            channel.tenant_id,
            channel.conversation_id,
            direction=MessageDirection.OUTBOUND,
            author=MessageAuthor.ASSISTANT,
            text=text,
            status=DeliveryStatus.PENDING,
        )
        item = await uow.outbox.add(
            channel.tenant_id,
            channel.integration_id,
            OutboxKind.MESSAGE,
            OutboxPayload(chat_id=channel.chat_id, text=text),
            conversation_id=channel.conversation_id,
            message_id=stored.id,
        )
        return item.id


def _from_operators(rules: HandoverRules, event: InboundEvent) -> bool:
    return (
        rules.operator_integration_id == event.integration_id
        and rules.operator_chat_id == event.message.chat_id
    )


def _cannot_help(lang: str) -> str:
    return texts.TEXTS[lang]["cannot_help"]


_REASONS = {
    HandoverReason.ASKED_FOR_PERSON: "asked for a person",
    HandoverReason.KEYWORD: "keyword “{detail}”",
    HandoverReason.MODEL_CANNOT_HELP: "the assistant could not answer",
    HandoverReason.MEDIA: "sent a {detail}",
}


def _reason_text(reason: HandoverReason, detail: str) -> str:
    return _REASONS[reason].format(detail=detail)
