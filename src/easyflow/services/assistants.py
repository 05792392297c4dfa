"""The AI provider chain: which model answers, what happens when one fails, what it costs.

A tenant's AI profile lists providers in order (`yandexgpt, openai, local`); each must be a
connected, active AI integration. The chain asks them in turn, each within its own timeout
(the integration's `timeout_seconds` setting, else `ChainPolicy.timeout_seconds`), and the
local responder, which never fails, ends every chain — so a customer always gets an answer
or a person.

A failure moves to the next provider at once (the chain is the retry: a customer waits for
no backoff), and is classified by what to do about the provider:

- RateLimitedError (429, a quota): it cools down for the retry-after it gave;
- RetryableError (5xx, Anthropic 529 overloaded, a timeout): it cools down once it keeps
  failing (`failure_threshold` failures within `failure_window`);
- ConfigurationError (a refused key, an unknown model, OpenAI `insufficient_quota`): it cools
  down for `config_cooldown_seconds` at once: retrying will not help, the tenant must act;
- RejectedError (this request refused): it stays, the next request may be fine.

Cool-downs live behind the `Cooldowns` port (Redis when configured), so every worker skips a
provider that keeps failing. Every reply's tokens and estimated cost (the adapter prices them
from its platform's table) are recorded per tenant, provider and model; a tenant may set a
monthly budget per currency, after which providers billed in that currency are skipped and
the chain falls to the local responder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import structlog

from easyflow.domain.ai import AiCostLine, ChatReply, ChatRequest
from easyflow.domain.errors import (
    ConfigurationError,
    EasyFlowError,
    InvalidRequestError,
    PlatformError,
    RateLimitedError,
    RejectedError,
    RetryableError,
)
from easyflow.domain.tenancy import Integration
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, ChatModel, Cooldowns, UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger("easyflow.assistants")

LOCAL = "local"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChainPolicy:
    cooldown_seconds: float = 60.0  # a provider that keeps failing rests this long
    failure_threshold: int = 3  # failures within `failure_window` that mean "keeps failing"
    failure_window: float = 60.0
    config_cooldown_seconds: float = 600.0  # wrong setup or billing: until the tenant acts
    timeout_seconds: float = 20.0  # per provider, unless its integration says otherwise


@dataclass(frozen=True, slots=True)
class Link:
    provider: str
    key: str  # its cool-down key: the tenant's account with the provider
    model: ChatModel
    timeout: float


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def over_budget(uow: UnitOfWork, tenant_id: int, now: datetime) -> frozenset[str]:
    """Currencies whose monthly budget the tenant has spent (read in the caller's unit)."""
    budgets = await uow.ai_costs.budgets(tenant_id)
    if not budgets:
        return frozenset()
    spent = await uow.ai_costs.spent(tenant_id, month_start(now))
    return frozenset(c for c, limit in budgets.items() if spent.get(c, Decimal(0)) >= limit)


class AssistantChain:
    def __init__(
        self,
        adapters: Adapters,
        metrics: Metrics,
        cooldowns: Cooldowns,
        policy: ChainPolicy | None = None,
    ) -> None:
        self._adapters = adapters
        self._metrics = metrics
        self._cooldowns = cooldowns
        self._policy = policy or ChainPolicy()

    async def answer(
        self,
        tenant_id: int,
        providers: Sequence[str],
        integrations: Sequence[Integration],
        request: ChatRequest,
        *,
        spent: frozenset[str] = frozenset(),
    ) -> ChatReply:
        """The first reply of the chain; `spent`: currencies whose budget is used up."""
        for link in await self.links(tenant_id, providers, integrations, spent):
            try:
                async with asyncio.timeout(link.timeout):
                    reply = await link.model.complete(request)
            except TimeoutError:
                error = RetryableError(
                    f"no answer within {link.timeout:g} s", platform=link.provider
                )
                await self._failed(tenant_id, link, error)
                continue
            except PlatformError as exc:
                await self._failed(tenant_id, link, exc)
                continue
            except Exception as exc:
                # An answer the adapter could not read (a bug, a shape no document mentions)
                # is that provider failing, never the customer's message failing.
                log.exception("ai provider answer unreadable", provider=link.provider)
                error = RetryableError(f"unreadable answer: {exc!r}", platform=link.provider)
                await self._failed(tenant_id, link, error)
                continue
            if link.provider != LOCAL:  # it never fails, so it has no failures to forget
                await self._guard(self._cooldowns.succeeded(link.key))
            self._count(reply)
            return reply
        raise AssertionError("the local responder ends every chain")  # pragma: no cover

    async def links(
        self,
        tenant_id: int,
        providers: Sequence[str],
        integrations: Sequence[Integration],
        spent: frozenset[str] = frozenset(),
    ) -> list[Link]:
        """The providers to ask, in order: connected, active, not cooling, within budget."""
        active = {i.platform: i for i in integrations if i.is_active}
        candidates = [
            self._link(active[p]) for p in dict.fromkeys(providers) if p != LOCAL and p in active
        ]
        cooling = await self._guard(self._cooldowns.cooling([c.key for c in candidates]))
        chain = []
        for link in candidates:
            if link.key in (cooling or set()):
                continue
            if link.model.currency and link.model.currency in spent:
                log.info("ai budget spent", tenant_id=tenant_id, provider=link.provider)
                continue
            chain.append(link)
        local = self._adapters.chat_model(None, LOCAL)
        return [*chain, Link(LOCAL, LOCAL, local, self._policy.timeout_seconds)]

    def _link(self, integration: Integration) -> Link:
        timeout = integration.settings.get("timeout_seconds")
        valid = isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0
        model = self._adapters.chat_model(integration, integration.platform)
        seconds = float(timeout) if valid else self._policy.timeout_seconds  # type: ignore[arg-type]
        return Link(integration.platform, f"ai:{integration.id}", model, seconds)

    async def _failed(self, tenant_id: int, link: Link, exc: PlatformError) -> None:
        policy = self._policy
        if isinstance(exc, RateLimitedError):
            outcome = "rate_limited"
            await self._guard(
                self._cooldowns.cool(link.key, exc.retry_after or policy.cooldown_seconds)
            )
        elif isinstance(exc, RetryableError):
            outcome = "error"
            await self._guard(
                self._cooldowns.failed(
                    link.key,
                    threshold=policy.failure_threshold,
                    window=policy.failure_window,
                    seconds=policy.cooldown_seconds,
                )
            )
        elif isinstance(exc, ConfigurationError):
            outcome = "misconfigured"
            await self._guard(self._cooldowns.cool(link.key, policy.config_cooldown_seconds))
        else:
            outcome = "rejected" if isinstance(exc, RejectedError) else "error"
        self._metrics.ai_replies.labels(link.provider, outcome).inc()
        log.warning(
            "ai provider failed",
            tenant_id=tenant_id,
            provider=link.provider,
            outcome=outcome,
            error=str(exc),
        )

    async def _guard(self, work: Awaitable[T]) -> T | None:
        """Shared state that is down costs the chain its memory, never the customer's answer."""
        try:
            return await work
        except EasyFlowError as exc:
            log.warning("cool-down state unavailable", error=str(exc))
            return None

    def _count(self, reply: ChatReply) -> None:
        outcome = "handover" if reply.handover else "answered"
        self._metrics.ai_replies.labels(reply.provider, outcome).inc()
        self._metrics.ai_tokens.labels(reply.provider, "prompt").inc(reply.usage.prompt_tokens)
        self._metrics.ai_tokens.labels(reply.provider, "completion").inc(
            reply.usage.completion_tokens
        )


class AiCosts:
    """Budgets and cost reports of a tenant's AI replies (admin API and CLI)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def set_budget(self, tenant_id: int, currency: str, limit: Decimal | None) -> None:
        currency = currency.strip().upper()
        if len(currency) != 3 or not currency.isalpha() or not currency.isascii():
            raise InvalidRequestError("currency must be an ISO 4217 code such as USD or RUB")
        if limit is not None and (not limit.is_finite() or limit < 0):
            raise InvalidRequestError("a budget is a non-negative amount")
        async with self._uow() as uow:
            await uow.tenants.get(tenant_id)
            await uow.ai_costs.set_budget(tenant_id, currency, limit)
            await uow.commit()

    async def report(self, tenant_id: int, now: datetime | None = None) -> MonthReport:
        since = month_start(now or datetime.now(UTC))
        async with self._uow() as uow:
            await uow.tenants.get(tenant_id)
            lines = await uow.ai_costs.breakdown(tenant_id, since)
            budgets = await uow.ai_costs.budgets(tenant_id)
            spent = await uow.ai_costs.spent(tenant_id, since)
        return MonthReport(since, tuple(lines), budgets, spent)


@dataclass(frozen=True, slots=True)
class MonthReport:
    since: datetime
    lines: tuple[AiCostLine, ...]
    budgets: dict[str, Decimal]
    spent: dict[str, Decimal]

    @property
    def exhausted(self) -> list[str]:
        return sorted(c for c, limit in self.budgets.items() if self.spent.get(c, 0) >= limit)
