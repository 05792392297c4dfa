"""Reply generation: ground the conversation in the hub's facts and walk the provider chain.

A tenant's AI profile lists providers in order (e.g. openai, local). A provider that fails is
cooled down for a while and the next one answers; the local responder is always the last link
and never fails, so a customer always gets an answer or a person.

Providers are given only the orders this customer may see (services/order_access.py): the
rows of anyone else's order never leave this module, so no model can disclose them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from easyflow.domain.ai import (
    ChatReply,
    ChatRequest,
    ChatTurn,
    GroundingFacts,
    PhoneCheck,
    Role,
)
from easyflow.domain.errors import PlatformError
from easyflow.domain.messaging import Contact, Conversation, MessageDirection, StoredMessage
from easyflow.domain.tenancy import Integration, PlatformKind, Tenant
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, ChatModel, UnitOfWork, UnitOfWorkFactory
from easyflow.services.order_access import (
    GUESS_WINDOW,
    Access,
    Question,
    bound_guessing,
    decide,
    read_question,
)

log = structlog.get_logger("easyflow.conversations")

LOCAL = "local"
HISTORY_LIMIT = 10


@dataclass(frozen=True, slots=True)
class PreparedReply:
    """What `ReplyService.answer` needs, read by `prepare` in the caller's transaction."""

    tenant: Tenant
    conversation: Conversation
    history: tuple[StoredMessage, ...]
    facts: GroundingFacts
    ai_integrations: tuple[Integration, ...]


def to_turns(history: Sequence[StoredMessage]) -> tuple[ChatTurn, ...]:
    return tuple(
        ChatTurn(Role.USER if m.direction is MessageDirection.INBOUND else Role.ASSISTANT, m.text)
        for m in history
    )


class ReplyService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        adapters: Adapters,
        metrics: Metrics,
        cooldown_seconds: float = 60.0,
    ) -> None:
        self._uow = uow
        self._adapters = adapters
        self._metrics = metrics
        self._cooldown = cooldown_seconds
        self._cooling_until: dict[tuple[int, str], float] = {}

    async def reply(
        self,
        tenant: Tenant,
        conversation: Conversation,
        history: Sequence[StoredMessage],
        *,
        shared_phone: str | None = None,
    ) -> ChatReply:
        """The answer to the last inbound message of `history`.

        `shared_phone`: the sender's own phone number when the messenger vouches for it (a
        shared contact); it links the contact to the orders that carry it.
        """
        async with self._uow() as uow:
            contact = await uow.contacts.get(tenant.id, conversation.contact_id)
            prepared = await self.prepare(uow, tenant, conversation, contact, history, shared_phone)
            await uow.commit()
        return await self.answer(prepared)

    async def prepare(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        conversation: Conversation,
        contact: Contact,
        history: Sequence[StoredMessage],
        shared_phone: str | None = None,
    ) -> PreparedReply:
        """What the answer needs from the database, read (and a proven phone written) in the
        caller's unit of work, so that recording a message and grounding its answer share one
        transaction; the caller commits."""
        facts = await self._facts(uow, tenant, conversation, contact, history, shared_phone)
        ai_integrations = await uow.integrations.list(tenant.id, kind=PlatformKind.AI)
        return PreparedReply(tenant, conversation, tuple(history), facts, tuple(ai_integrations))

    async def answer(self, prepared: PreparedReply) -> ChatReply:
        """Walk the provider chain; no database work (it runs outside any transaction)."""
        tenant, conversation, facts = prepared.tenant, prepared.conversation, prepared.facts
        request = ChatRequest(
            profile=tenant.ai_profile,
            history=to_turns(prepared.history[-HISTORY_LIMIT:]),
            facts=facts,
            user_ref=f"tenant-{tenant.id}-conversation-{conversation.id}",
        )
        # A customer out of guesses gets the local responder's hand-over, whatever the chain.
        chain = (
            self._chain(tenant, prepared.ai_integrations)
            if facts.phone_check is not PhoneCheck.LOCKED_OUT
            else [(LOCAL, self._adapters.chat_model(None, LOCAL))]
        )
        for provider, model in chain:
            try:
                reply = await model.complete(request)
            except PlatformError as exc:
                self._cool_down(tenant.id, provider)
                self._metrics.ai_replies.labels(provider, "error").inc()
                log.warning(
                    "ai provider failed", tenant_id=tenant.id, provider=provider, error=str(exc)
                )
                continue
            self._count(reply)
            return reply
        raise AssertionError("the local responder ends every chain")  # pragma: no cover

    async def _facts(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        conversation: Conversation,
        contact: Contact,
        history: Sequence[StoredMessage],
        shared_phone: str | None,
    ) -> GroundingFacts:
        """What this customer may be told about the orders their last message is about."""
        question = read_question(history, shared_phone)
        # A group's conversation belongs to whoever wrote first, and everyone reads it.
        shared_chat = contact.external_id != conversation.chat_id
        access, linked = (
            (Access((), PhoneCheck.NONE), False)
            if shared_chat
            else await self._access(uow, tenant, conversation, contact, question)
        )
        return GroundingFacts(
            orders=access.visible,
            asked_order_numbers=question.numbers,
            phone_check=access.check,
            linked=linked,
            shared_chat=shared_chat,
        )

    async def _access(
        self,
        uow: UnitOfWork,
        tenant: Tenant,
        conversation: Conversation,
        contact: Contact,
        question: Question,
    ) -> tuple[Access, bool]:
        """What the customer may see; stores a newly proven phone number. Also: linked?"""
        # The contact was read (or upserted) in this transaction: its phone is current.
        stored = (
            contact.phone
            if contact.id == conversation.contact_id
            else await uow.contacts.phone(tenant.id, conversation.contact_id)
        )
        orders = await uow.orders.find_by_numbers(tenant.id, question.numbers)
        access = decide(question, orders, stored)
        if access.check is PhoneCheck.MISMATCH:
            window = await uow.messages.history(tenant.id, conversation.id, GUESS_WINDOW)
            access = bound_guessing(access, window, stored)
            # Never the number itself: phone numbers are personal data.
            log.info(
                "phone number did not match",
                contact_id=conversation.contact_id,
                outcome=access.check.value,
            )
        if access.proven:
            await uow.contacts.set_phone(tenant.id, conversation.contact_id, access.proven)
            log.info(
                "contact proved a phone number",
                contact_id=conversation.contact_id,
                via="messenger" if question.vouched else "order",
            )
        return access, bool(stored or access.proven)

    def _chain(
        self, tenant: Tenant, integrations: Sequence[Integration]
    ) -> list[tuple[str, ChatModel]]:
        active = {i.platform: i for i in integrations if i.is_active}
        chain: list[tuple[str, ChatModel]] = []
        now = time.monotonic()
        for provider in tenant.ai_profile.providers:
            if provider == LOCAL or provider not in active:
                continue
            if self._cooling_until.get((tenant.id, provider), 0.0) > now:
                continue
            chain.append((provider, self._adapters.chat_model(active[provider], provider)))
        chain.append((LOCAL, self._adapters.chat_model(None, LOCAL)))
        return chain

    def _cool_down(self, tenant_id: int, provider: str) -> None:
        self._cooling_until[(tenant_id, provider)] = time.monotonic() + self._cooldown

    def _count(self, reply: ChatReply) -> None:
        outcome = "handover" if reply.handover else "answered"
        self._metrics.ai_replies.labels(reply.provider, outcome).inc()
        self._metrics.ai_tokens.labels(reply.provider, "prompt").inc(reply.usage.prompt_tokens)
        self._metrics.ai_tokens.labels(reply.provider, "completion").inc(
            reply.usage.completion_tokens
        )
