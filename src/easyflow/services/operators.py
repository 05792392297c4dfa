"""What a seller's operators do with conversations a person has: read, reply, release, close.

A reply is stored as the human's message and goes out on the customer's channel through the
outbox (the same sender, retries and dead letters as the bot's replies). A person replying
takes the conversation: the bot stays silent until it is released. Every step is an event in
the operators' feed, and a line in their Telegram chat, so a team sees who did what.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from easyflow.domain.commerce import Order, extract_order_numbers
from easyflow.domain.errors import InvalidRequestError, NotFoundError
from easyflow.domain.messaging import (
    MEDIA_KINDS,
    ConversationStatus,
    ConversationSummary,
    DeliveryStatus,
    HandoverRules,
    MessageAuthor,
    MessageDirection,
    OperatorEvent,
    OperatorEventType,
    OutboxKind,
    OutboxPayload,
    StoredMessage,
)
from easyflow.domain.phones import same_phone
from easyflow.domain.tenancy import Capability
from easyflow.ports import Adapters, TaskQueue, UnitOfWork, UnitOfWorkFactory
from easyflow.services.capabilities import require_capability
from easyflow.services.handover import HandoverService, conversation_data, message_data
from easyflow.services.operator_events import new_secret

MAX_TEXT = 4096  # the strictest messenger's limit (Telegram), in characters
_CHAT_ID = re.compile(r"-?\d{1,20}|@\w{1,64}")


@dataclass(frozen=True, slots=True)
class ContactOrder:
    order: Order
    linked: bool  # placed with the contact's proven phone number


@dataclass(frozen=True, slots=True)
class ConversationView:
    """One conversation as an operator reads it."""

    summary: ConversationSummary
    phone: str | None  # the contact's proven phone number (digits)
    messages: tuple[StoredMessage, ...]
    orders: tuple[ContactOrder, ...]


class OperatorService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        queue: TaskQueue,
        handover: HandoverService,
        adapters: Adapters,
    ) -> None:
        self._uow = uow
        self._queue = queue
        self._handover = handover
        self._adapters = adapters  # what an integration's platform offers

    # ----------------------------------------------------------------------- reading

    async def conversations(
        self,
        tenant_id: int,
        status: ConversationStatus | None = ConversationStatus.HANDOVER,
        *,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ConversationSummary]:
        """Handed-over conversations by default, the longest waiting first."""
        async with self._uow() as uow:
            return await uow.handover.summaries(
                tenant_id, status=status, limit=limit, offset=offset
            )

    async def show(
        self, tenant_id: int, conversation_id: int, *, limit: int = 100
    ) -> ConversationView:
        async with self._uow() as uow:
            summary = await _summary(uow, tenant_id, conversation_id)
            phone = await uow.contacts.phone(tenant_id, summary.contact.id)
            history = await uow.messages.history(tenant_id, conversation_id, limit)
            orders = await _orders(uow, tenant_id, phone, history)
        return ConversationView(summary, phone, tuple(history), orders)

    async def events(
        self, tenant_id: int, *, after_id: int = 0, limit: int = 100
    ) -> list[OperatorEvent]:
        async with self._uow() as uow:
            return await uow.handover.events(tenant_id, after_id=after_id, limit=limit)

    # ----------------------------------------------------------------------- acting

    async def reply(
        self, tenant_id: int, conversation_id: int, text: str, operator: str = ""
    ) -> StoredMessage:
        """Send `text` to the customer as a person; the conversation stays with people."""
        text = text.strip()
        if not text or len(text) > MAX_TEXT:
            raise InvalidRequestError(f"a reply must have 1 to {MAX_TEXT} characters")
        async with self._uow() as uow:
            summary = await _summary(uow, tenant_id, conversation_id)
            conversation = summary.conversation
            if conversation.status is not ConversationStatus.HANDOVER:
                reason = f"operator stepped in: {operator}" if operator else "operator stepped in"
                await uow.handover.hand_over(tenant_id, conversation_id, reason, _now())
            stored = await uow.messages.add(
                tenant_id,
                conversation_id,
                direction=MessageDirection.OUTBOUND,
                author=MessageAuthor.HUMAN,
                text=text,
                status=DeliveryStatus.PENDING,
            )
            item = await uow.outbox.add(
                tenant_id,
                conversation.integration_id,
                OutboxKind.MESSAGE,
                OutboxPayload(chat_id=conversation.chat_id, text=text),
                conversation_id=conversation_id,
                message_id=stored.id,
            )
            data = conversation_data(conversation, summary.contact, summary.platform) | {
                "message": message_data(stored),
                "operator": operator,
            }
            who = operator or "an operator"
            ids = [item.id] + await self._notify(
                uow, tenant_id, conversation_id, OperatorEventType.OPERATOR_REPLY, data,
                f"↩️ #{conversation_id} answered by {who}: {text[:500]}",
            )  # fmt: skip
            await uow.commit()
        for outbox_id in ids:
            await self._queue.send_outbox(outbox_id)
        return stored

    async def release(self, tenant_id: int, conversation_id: int, operator: str = "") -> None:
        """Give the conversation back to the bot."""
        await self._set(
            tenant_id, conversation_id, ConversationStatus.OPEN, OperatorEventType.RELEASED,
            operator, f"🤖 #{conversation_id} is back with the bot",
        )  # fmt: skip

    async def close(self, tenant_id: int, conversation_id: int, operator: str = "") -> None:
        """Done; a customer who writes again starts afresh with the bot."""
        await self._set(
            tenant_id, conversation_id, ConversationStatus.CLOSED, OperatorEventType.CLOSED,
            operator, f"✅ #{conversation_id} closed",
        )  # fmt: skip

    async def _set(
        self,
        tenant_id: int,
        conversation_id: int,
        status: ConversationStatus,
        type_: OperatorEventType,
        operator: str,
        line: str,
    ) -> None:
        async with self._uow() as uow:
            summary = await _summary(uow, tenant_id, conversation_id)
            await uow.conversations.set_status(tenant_id, conversation_id, status)
            data = conversation_data(summary.conversation, summary.contact, summary.platform)
            data["operator"] = operator
            ids = await self._notify(uow, tenant_id, conversation_id, type_, data, line)
            await uow.commit()
        for outbox_id in ids:
            await self._queue.send_outbox(outbox_id)

    async def _notify(
        self,
        uow: UnitOfWork,
        tenant_id: int,
        conversation_id: int,
        type_: OperatorEventType,
        data: dict[str, object],
        line: str,
    ) -> list[int]:
        rules = await self._handover.rules(uow, tenant_id)
        return await self._handover.notify(
            uow, rules, tenant_id, conversation_id, type_, dict(data), line
        )

    # ----------------------------------------------------------------------- rules

    async def rules(self, tenant_id: int) -> tuple[HandoverRules, str | None]:
        """The tenant's rules and its webhook's signing secret (None until a URL is set)."""
        async with self._uow() as uow:
            await uow.tenants.get(tenant_id)
            return await uow.handover.rules(tenant_id), await uow.handover.webhook_secret(tenant_id)

    async def set_rules(
        self, tenant_id: int, rules: HandoverRules
    ) -> tuple[HandoverRules, str | None]:
        """Check and store the rules; a first webhook URL gets a new signing secret."""
        _check(rules)
        async with self._uow() as uow:
            await uow.tenants.get(tenant_id)
            if rules.operator_integration_id is not None:
                await self._check_operator_channel(uow, tenant_id, rules.operator_integration_id)
            await uow.handover.set_rules(tenant_id, rules)
            self._handover.forget(tenant_id)
            secret = await uow.handover.webhook_secret(tenant_id)
            if rules.webhook_url and secret is None:
                secret = new_secret()
                await uow.handover.set_webhook_secret(tenant_id, secret)
            await uow.commit()
        self._handover.forget(tenant_id)
        return rules, secret

    async def _check_operator_channel(
        self, uow: UnitOfWork, tenant_id: int, integration_id: int
    ) -> None:
        try:
            integration = await uow.integrations.get(tenant_id, integration_id)
        except NotFoundError:
            raise InvalidRequestError(f"integration {integration_id} is not one of yours") from None
        # Its platform's capabilities, not the kind it is stored under (its first only).
        require_capability(self._adapters, integration, Capability.MESSENGER)

    async def rotate_webhook_secret(self, tenant_id: int) -> str:
        secret = new_secret()
        async with self._uow() as uow:
            await uow.tenants.get(tenant_id)
            await uow.handover.set_webhook_secret(tenant_id, secret)
            await uow.commit()
        return secret


def _now() -> datetime:
    return datetime.now(UTC)


async def _summary(uow: UnitOfWork, tenant_id: int, conversation_id: int) -> ConversationSummary:
    found = await uow.handover.summaries(
        tenant_id, status=None, conversation_id=conversation_id, limit=1
    )
    if not found:
        raise NotFoundError(f"conversation {conversation_id} not found")
    return found[0]


async def _orders(
    uow: UnitOfWork, tenant_id: int, phone: str | None, history: list[StoredMessage]
) -> tuple[ContactOrder, ...]:
    """The contact's orders (by proven phone) and the orders the conversation mentions."""
    mentioned = {
        n
        for m in history
        if m.direction is MessageDirection.INBOUND
        for n in extract_order_numbers(m.text)
    }
    found = await uow.handover.orders_for_phone(tenant_id, phone)
    found += await uow.orders.find_by_numbers(tenant_id, sorted(mentioned))
    seen: set[tuple[str, str]] = set()
    result = []
    for order in found:
        if (order.source, order.external_id) not in seen:
            seen.add((order.source, order.external_id))
            result.append(
                ContactOrder(order, bool(phone) and same_phone(order.customer_phone, phone))
            )
    return tuple(result)


def _check(rules: HandoverRules) -> None:
    """InvalidRequestError with the reason for rules that could not work."""
    if (rules.operator_integration_id is None) != (not rules.operator_chat_id):
        raise InvalidRequestError("operator_integration_id and operator_chat_id go together")
    if rules.operator_chat_id and not _CHAT_ID.fullmatch(rules.operator_chat_id):
        raise InvalidRequestError("operator_chat_id must be a chat id or an @channel name")
    if rules.webhook_url:
        parts = urlsplit(rules.webhook_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequestError("webhook_url must be an absolute http(s) URL")
    unknown = set(rules.media) - set(MEDIA_KINDS)
    if unknown:
        raise InvalidRequestError(f"unknown media kinds: {', '.join(sorted(unknown))}")
    for text in (rules.notice, rules.after_hours_notice, rules.cannot_help):
        if text is not None and not 0 < len(text.strip()) <= MAX_TEXT:
            raise InvalidRequestError(f"texts must have 1 to {MAX_TEXT} characters")
    if any(not k.strip() for k in rules.keywords):
        raise InvalidRequestError("keywords must not be empty")
    hours = rules.working_hours
    if hours is not None:
        try:
            ZoneInfo(hours.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise InvalidRequestError(f"unknown time zone {hours.timezone!r}") from None
        if not hours.days or any(not 0 <= d <= 6 for d in hours.days):
            raise InvalidRequestError("working days are 0 (Monday) to 6 (Sunday), at least one")
        if hours.opens >= hours.closes:
            raise InvalidRequestError("working hours must open before they close")


def with_keywords(rules: HandoverRules, keywords: tuple[str, ...]) -> HandoverRules:
    return replace(rules, keywords=tuple(k.strip() for k in keywords))
