"""Reply generation: ground the conversation in the hub's facts and walk the provider chain.

A tenant's AI profile lists providers in order (e.g. openai, local). A provider that fails is
cooled down for a while and the next one answers; the local responder is always the last link
and never fails, so a customer always gets an answer or a person.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import structlog

from easyflow.domain.ai import ChatReply, ChatRequest, ChatTurn, GroundingFacts, Role
from easyflow.domain.commerce import extract_order_numbers
from easyflow.domain.errors import PlatformError
from easyflow.domain.messaging import Conversation, MessageDirection, StoredMessage
from easyflow.domain.tenancy import Integration, PlatformKind, Tenant
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, ChatModel, UnitOfWorkFactory

log = structlog.get_logger("easyflow.conversations")

LOCAL = "local"
HISTORY_LIMIT = 10


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
        self, tenant: Tenant, conversation: Conversation, history: Sequence[StoredMessage]
    ) -> ChatReply:
        last = next(
            (m.text for m in reversed(history) if m.direction is MessageDirection.INBOUND), ""
        )
        numbers = extract_order_numbers(last)
        async with self._uow() as uow:
            orders = await uow.orders.find_by_numbers(tenant.id, numbers) if numbers else []
            ai_integrations = await uow.integrations.list(tenant.id, kind=PlatformKind.AI)
        request = ChatRequest(
            profile=tenant.ai_profile,
            history=to_turns(history[-HISTORY_LIMIT:]),
            facts=GroundingFacts(orders=tuple(orders), asked_order_numbers=numbers),
            user_ref=f"tenant-{tenant.id}-conversation-{conversation.id}",
        )
        for provider, model in self._chain(tenant, ai_integrations):
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
