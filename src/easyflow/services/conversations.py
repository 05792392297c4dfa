"""Reply generation: ground the conversation in the hub's facts and walk the provider chain.

A tenant's AI profile lists providers in order (e.g. yandexgpt, openai, local); the chain
(services/assistants.py) asks them in turn, and the local responder is always the last link
and never fails, so a customer always gets an answer or a person.

Providers are given only the orders this customer may see (services/order_access.py): the
rows of anyone else's order never leave this module, so no model can disclose them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from easyflow.domain.ai import (
    ChatReply,
    ChatRequest,
    ChatTurn,
    GroundingFacts,
    PhoneCheck,
    Role,
)
from easyflow.domain.messaging import Contact, Conversation, MessageDirection, StoredMessage
from easyflow.domain.tenancy import Capability, Integration, Tenant
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, IntegrationCache, UnitOfWork, UnitOfWorkFactory
from easyflow.services.assistants import LOCAL as LOCAL
from easyflow.services.assistants import AssistantChain, over_budget
from easyflow.services.catalogue import product_words
from easyflow.services.order_access import (
    GUESS_WINDOW,
    Access,
    Question,
    bound_guessing,
    decide,
    read_question,
)

log = structlog.get_logger("easyflow.conversations")

HISTORY_LIMIT = 10


@dataclass(frozen=True, slots=True)
class PreparedReply:
    """What `ReplyService.answer` needs, read by `prepare` in the caller's transaction."""

    tenant: Tenant
    conversation: Conversation
    history: tuple[StoredMessage, ...]
    facts: GroundingFacts
    ai_integrations: tuple[Integration, ...]
    spent: frozenset[str] = frozenset()  # currencies whose monthly AI budget is used up


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
        chain: AssistantChain,
        integrations: IntegrationCache | None = None,
    ) -> None:
        self._uow = uow
        self._integrations = integrations
        self._adapters = adapters
        self._metrics = metrics
        self._chain = chain

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
        ai_integrations = await self._chat_models(uow, tenant.id)
        if ai_integrations and history:
            # Models get the catalogue entries the message names (a tool, or context); the
            # local responder does not use them, so a local-only chain skips the query.
            words = product_words(history[-1].text)
            if words:
                found = await uow.products.search(tenant.id, words)
                facts = replace(facts, products=tuple(found))
        # Only a chain with a paid provider has a budget to check.
        spent = await over_budget(uow, tenant.id, datetime.now(UTC)) if ai_integrations else None
        return PreparedReply(
            tenant,
            conversation,
            tuple(history),
            facts,
            ai_integrations,
            spent or frozenset(),
        )

    async def _chat_models(self, uow: UnitOfWork, tenant_id: int) -> tuple[Integration, ...]:
        """The tenant's AI integrations: read for every message to answer, so kept in the
        integration cache (dropped on any add, pause, resume, rotate or delete)."""
        cache = self._integrations
        cached = cache.chat_models(tenant_id) if cache is not None else None
        if cached is not None:
            return cached
        found = tuple(
            await uow.integrations.list(
                tenant_id, platforms=self._adapters.platforms_offering(Capability.CHAT_MODEL)
            )
        )
        if cache is not None:
            cache.put_chat_models(tenant_id, found)
        return found

    def answers_in_process(self, prepared: PreparedReply) -> bool:
        """True when the answer needs no provider call (no AI integration connected: the
        local responder answers), so it may be computed inside a transaction."""
        return not prepared.ai_integrations

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
        locked_out = facts.phone_check is PhoneCheck.LOCKED_OUT
        return await self._chain.answer(
            tenant.id,
            () if locked_out else tenant.ai_profile.providers,
            prepared.ai_integrations,
            request,
            spent=prepared.spent,
        )

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
