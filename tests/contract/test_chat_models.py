"""One contract for every ChatModel: OpenAI, YandexGPT, Anthropic and the local responder,
each adapter on the real PlatformClient against its sandbox (httpx.ASGITransport).

Per provider: the request on the wire in the platform's own shape, usage and its estimated
cost, errors classified by what to do, and tool calls answered from the facts the customer
may see. Over the chain: fallback in the tenant's order, a timeout per provider, cool-down of
a provider that keeps failing shared by every worker (in-process and Redis), OpenAI's
`insufficient_quota` not retried, Anthropic's 529 moved to the next provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from easyflow.bootstrap import HttpClients, PlatformAdapters
from easyflow.config import Settings
from easyflow.domain.ai import (
    AiProfile,
    ChatRequest,
    ChatTurn,
    FaqEntry,
    GroundingFacts,
    Role,
)
from easyflow.domain.commerce import Order, OrderItem, OrderStatus
from easyflow.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitedError,
    RetryableError,
)
from easyflow.domain.tenancy import Capability, Integration, IntegrationStatus
from easyflow.http import InMemoryRateLimiter, RetryPolicy
from easyflow.observability.metrics import Metrics
from easyflow.platforms.registry import PlatformRegistry
from easyflow.sandbox.faults import FaultSpec
from easyflow.sandbox.server import Sandbox, create_sandbox_app
from easyflow.services.assistants import AssistantChain, ChainPolicy
from easyflow.state.cooldown import InMemoryCooldowns, RedisCooldowns
from support.scratch_redis import scratch_redis

SANDBOX = "http://sandbox"
FOLDER = "b1gcontract000000000"
KEYS = {
    "openai": "sk-contract-" + "o" * 20,
    "yandexgpt": "AQVN-contract-key-000000000000",
    "anthropic": "sk-ant-contract-" + "a" * 20,
}
SETTINGS: dict[str, dict[str, Any]] = {
    "openai": {"model": "gpt-4.1-mini"},
    "yandexgpt": {"model": "yandexgpt-lite", "folder_id": FOLDER},
    "anthropic": {"model": "claude-haiku-4-5"},
}
COMPLETION_PATH = {
    "openai": "/v1/chat/completions",
    "yandexgpt": "/foundationModels/v1/completion",
    "anthropic": "/v1/messages",
}
PROVIDERS = ["openai", "yandexgpt", "anthropic"]
TOOL_SCRIPT = {
    "openai": "script_tool_call",
    "yandexgpt": "script_function_call",
    "anthropic": "script_tool_use",
}
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SHIPPED = Order(
    "c-1001",
    "1001",
    OrderStatus.SHIPPED,
    Decimal("2490"),
    "RUB",
    NOW,
    customer_phone="+79001234567",
    tracking_number="RR123456785RU",
    items=(OrderItem("SKU-1", "Table lamp", 1, Decimal("2490")),),
)
PROFILE = AiProfile(
    system_prompt="You are the support assistant of Contract Shop.",
    faq=(FaqEntry("delivery", ("delivery",), "We deliver in 2-4 days."),),
)

TOOL_NAMES = ["lookup_order", "search_products", "shop_policies"]


def request(text: str = "Where is my order 1001?", *, linked: bool = True) -> ChatRequest:
    """The customer asks about 1001; `linked`: it is theirs and they proved it."""
    facts = GroundingFacts(
        orders=(SHIPPED,) if linked else (),
        asked_order_numbers=("1001",),
        linked=linked,
    )
    history = (
        ChatTurn(Role.ASSISTANT, "Hello! How can I help?"),
        ChatTurn(Role.USER, "Hi, call me at +7 900 123-45-67"),
        ChatTurn(Role.ASSISTANT, "Sure."),
        ChatTurn(Role.USER, text),
    )
    return ChatRequest(PROFILE, history, facts, user_ref="tenant-1-conversation-7")


@dataclass
class Harness:
    sandbox: Sandbox
    adapters: PlatformAdapters
    metrics: Metrics

    def integration(self, platform: str, id_: int = 1, **settings: Any) -> Integration:
        return Integration(
            id=id_,
            tenant_id=1,
            platform=platform,
            kind=Capability.CHAT_MODEL,
            name=platform,
            status=IntegrationStatus.ACTIVE,
            credentials={"api_key": settings.pop("api_key", KEYS[platform])},
            settings=SETTINGS[platform] | settings,
            created_at=NOW,
        )

    def model(self, platform: str, **settings: Any) -> Any:
        if platform == "local":
            return self.adapters.chat_model(None, "local")
        return self.adapters.chat_model(self.integration(platform, **settings), platform)

    def requests(self, platform: str) -> list[Any]:
        emulator = getattr(self.sandbox, platform)
        return emulator.requests(COMPLETION_PATH[platform])

    def script(self, platform: str, *replies: str) -> None:
        getattr(self.sandbox, platform).script(list(replies))

    def script_tool(self, platform: str, name: str, **arguments: Any) -> None:
        emulator = getattr(self.sandbox, platform)
        getattr(emulator, TOOL_SCRIPT[platform])(name, **arguments)

    def fault(self, platform: str, **spec: Any) -> None:
        path = COMPLETION_PATH[platform]
        self.sandbox.faults.add(FaultSpec(platform=platform, path=path, **spec))


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async with create_sandbox_app() as sandbox:
        sandbox.openai.add_key(KEYS["openai"])
        sandbox.yandexgpt.add_key(KEYS["yandexgpt"], FOLDER)
        sandbox.anthropic.add_key(KEYS["anthropic"])
        transport = httpx.ASGITransport(sandbox.app)
        clients = HttpClients(dict.fromkeys(PROVIDERS, transport))
        metrics = Metrics()
        settings = Settings(sandbox_url=SANDBOX, secret_keys="x")
        retry = RetryPolicy(attempts=3, initial_backoff=0.001, max_backoff=0.001)
        adapters = PlatformAdapters(
            PlatformRegistry(), settings, clients, InMemoryRateLimiter(), metrics, retry
        )
        try:
            yield Harness(sandbox, adapters, metrics)
        finally:
            await clients.aclose()


# --------------------------------------------------------------------------- on the wire


@pytest.mark.parametrize("platform", PROVIDERS)
async def test_the_request_is_the_platforms_own_shape(harness: Harness, platform: str) -> None:
    harness.script(platform, "Order 1001 has been shipped.")
    reply = await harness.model(platform).complete(request())
    assert (reply.text, reply.provider, reply.handover) == (
        "Order 1001 has been shipped.",
        platform,
        False,
    )
    [sent] = harness.requests(platform)
    assert sent.status == 200
    WIRE[platform](sent)


def _openai_wire(sent: Any) -> None:
    body = sent.body
    assert sent.api_key == KEYS["openai"]
    system, *turns = body["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You are the support assistant of Contract Shop.")
    assert "Order 1001: status shipped, tracking number RR123456785RU" in system["content"]
    assert turns[-1] == {"role": "user", "content": "Where is my order 1001?"}
    assert turns[1] == {"role": "user", "content": "Hi, call me at [phone number]"}
    assert (body["model"], body["temperature"], body["max_completion_tokens"]) == (
        "gpt-4.1-mini",
        0.3,
        500,
    )
    assert "max_tokens" not in body
    assert [t["function"]["name"] for t in body["tools"]] == TOOL_NAMES
    assert body["user"] == "tenant-1-conversation-7"


def _yandexgpt_wire(sent: Any) -> None:
    body = sent.body
    assert sent.authorization == f"Api-Key {KEYS['yandexgpt']}"
    assert sent.folder_header == FOLDER
    assert body["modelUri"] == f"gpt://{FOLDER}/yandexgpt-lite/latest"
    assert body["completionOptions"] == {"stream": False, "temperature": 0.3, "maxTokens": "500"}
    system, *turns = body["messages"]
    assert system["role"] == "system" and "Order 1001: status shipped" in system["text"]
    assert all(set(m) == {"role", "text"} for m in body["messages"])
    assert turns[-1] == {"role": "user", "text": "Where is my order 1001?"}
    assert [t["function"]["name"] for t in body["tools"]] == TOOL_NAMES


def _anthropic_wire(sent: Any) -> None:
    body = sent.body
    assert (sent.api_key, sent.version) == (KEYS["anthropic"], "2023-06-01")
    assert body["system"].startswith("You are the support assistant of Contract Shop.")
    assert "Order 1001: status shipped" in body["system"]
    # The conversation opens with the customer; no system role among the messages.
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][-1] == {"role": "user", "content": "Where is my order 1001?"}
    assert (body["model"], body["max_tokens"], body["temperature"]) == (
        "claude-haiku-4-5",
        500,
        0.3,
    )
    assert [t["name"] for t in body["tools"]] == TOOL_NAMES
    assert all("input_schema" in t for t in body["tools"])
    assert body["metadata"] == {"user_id": "tenant-1-conversation-7"}


WIRE: dict[str, Callable[[Any], None]] = {
    "openai": _openai_wire,
    "yandexgpt": _yandexgpt_wire,
    "anthropic": _anthropic_wire,
}


async def test_yandexgpt_takes_an_iam_token_as_bearer(harness: Harness) -> None:
    token = "t1.9euelZqcontract-iam-token-0000"
    harness.sandbox.yandexgpt.add_iam_token(token)
    reply = await harness.model("yandexgpt", api_key=token).complete(request())
    assert reply.text and reply.text.startswith("Sandbox reply to:")
    [sent] = harness.requests("yandexgpt")
    assert (sent.authorization, sent.folder_header) == (f"Bearer {token}", FOLDER)


# --------------------------------------------------------------------------- usage and cost

# (price per million input, output, currency) of the models the harness uses.
PRICES = {
    "openai": (Decimal("0.40"), Decimal("1.60"), "USD"),
    "yandexgpt": (Decimal("200"), Decimal("200"), "RUB"),
    "anthropic": (Decimal("1.00"), Decimal("5.00"), "USD"),
}


@pytest.mark.parametrize("platform", PROVIDERS)
async def test_usage_and_its_estimated_cost(harness: Harness, platform: str) -> None:
    harness.script(platform, "x" * 400)  # 100 tokens by the sandboxes' count
    reply = await harness.model(platform).complete(request())
    assert reply.usage.completion_tokens == 100
    assert reply.usage.prompt_tokens > 100  # the system prompt with the facts, and 3 turns
    per_in, per_out, currency = PRICES[platform]
    expected = (per_in * reply.usage.prompt_tokens + per_out * 100) / Decimal(1_000_000)
    assert reply.usage.currency == currency
    assert reply.usage.cost == expected.quantize(Decimal("0.00000001"))


async def test_the_local_responder_answers_from_the_facts_for_nothing(harness: Harness) -> None:
    reply = await harness.model("local").complete(request())
    assert reply.text == "Order 1001 has been shipped. Tracking number: RR123456785RU."
    assert (reply.usage.total_tokens, reply.usage.cost, reply.usage.currency) == (0, 0, "")
    locked = await harness.model("local").complete(request(linked=False))
    assert locked.text is not None and "RR123456785RU" not in locked.text
    assert "phone number given in order 1001" in locked.text


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("platform", PROVIDERS)
async def test_a_refused_key_is_an_authentication_error(harness: Harness, platform: str) -> None:
    key = {"openai": "sk-wrong-0000000000", "anthropic": "sk-ant-wrong-00000"}
    model = harness.model(platform, api_key=key.get(platform, "AQVN-wrong-key-0000000000"))
    with pytest.raises(AuthenticationError):
        await model.complete(request())
    with pytest.raises(AuthenticationError):
        await model.check()


@pytest.mark.parametrize("platform", PROVIDERS)
async def test_an_unknown_model_fails_the_check(harness: Harness, platform: str) -> None:
    await harness.model(platform).check()
    with pytest.raises(ConfigurationError) as caught:
        await harness.model(platform, model="no-such-model").check()
    assert caught.value.status == 404


@pytest.mark.parametrize("platform", PROVIDERS)
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"kind": "http_error", "status": 500}, RetryableError),
        ({"kind": "rate_limit", "retry_after": 2}, RateLimitedError),
    ],
)
async def test_failures_are_classified(
    harness: Harness, platform: str, fault: dict[str, Any], error: type[Exception]
) -> None:
    harness.fault(platform, count=1, **fault)
    with pytest.raises(error):
        await harness.model(platform).complete(request())


async def test_provider_specific_errors(harness: Harness) -> None:
    harness.fault("openai", kind="rate_limit", code="insufficient_quota", count=1)
    with pytest.raises(ConfigurationError, match="quota"):
        await harness.model("openai").complete(request())
    harness.fault("anthropic", kind="http_error", status=529, count=1)
    with pytest.raises(RetryableError, match="Overloaded") as overloaded:
        await harness.model("anthropic").complete(request())
    assert overloaded.value.status == 529
    # YandexGPT's concurrency quota: gRPC 8 in the gateway envelope.
    harness.fault("yandexgpt", kind="rate_limit", count=1)
    with pytest.raises(RateLimitedError, match="gauge quota limit exceed") as quota:
        await harness.model("yandexgpt").complete(request())
    assert quota.value.retry_after == 1.0  # a generation ends soon: a short rest
    harness.fault("yandexgpt", kind="http_error", status=400, count=1)
    with pytest.raises(Exception, match="Internal error") as rejected:
        await harness.model("yandexgpt").complete(request())
    assert type(rejected.value).__name__ == "RejectedError"


# --------------------------------------------------------------------------- tools


@pytest.mark.parametrize("platform", PROVIDERS)
async def test_a_tool_call_is_answered_from_the_visible_facts(
    harness: Harness, platform: str
) -> None:
    harness.script_tool(platform, "lookup_order", order_number="1001")
    harness.script(platform, "It is on its way: RR123456785RU.")
    reply = await harness.model(platform).complete(request())
    assert reply.text == "It is on its way: RR123456785RU."
    first, second = harness.requests(platform)
    assert first.status == second.status == 200
    result = TOOL_RESULT[platform](second.body)
    assert "Order 1001: status shipped, tracking number RR123456785RU" in result
    assert "items: Table lamp x1" in result
    # Both rounds are paid for.
    assert reply.usage.prompt_tokens > 2 * len(request().history)


@pytest.mark.parametrize("platform", PROVIDERS)
async def test_a_tool_call_about_someone_elses_order_learns_nothing(
    harness: Harness, platform: str
) -> None:
    harness.script_tool(platform, "lookup_order", order_number="1001")
    harness.script(platform, "Please send the phone number on the order.")
    await harness.model(platform).complete(request(linked=False))
    _, second = harness.requests(platform)
    result = TOOL_RESULT[platform](second.body)
    assert "has not confirmed" in result
    assert "shipped" not in result and "RR123456785RU" not in str(second.body)


def _openai_tool_result(body: dict[str, Any]) -> str:
    *_, call, result = body["messages"]
    assert call["role"] == "assistant" and call["tool_calls"][0]["id"] == result["tool_call_id"]
    assert result["role"] == "tool"
    return str(result["content"])


def _yandexgpt_tool_result(body: dict[str, Any]) -> str:
    *_, call, result = body["messages"]
    assert call["toolCallList"]["toolCalls"][0]["functionCall"]["name"] == "lookup_order"
    [answer] = result["toolResultList"]["toolResults"]
    assert answer["functionResult"]["name"] == "lookup_order"
    return str(answer["functionResult"]["content"])


def _anthropic_tool_result(body: dict[str, Any]) -> str:
    *_, call, result = body["messages"]
    [use] = call["content"]
    [answer] = result["content"]
    assert (use["type"], answer["type"], answer["tool_use_id"]) == (
        "tool_use",
        "tool_result",
        use["id"],
    )
    return str(answer["content"])


TOOL_RESULT: dict[str, Callable[[dict[str, Any]], str]] = {
    "openai": _openai_tool_result,
    "yandexgpt": _yandexgpt_tool_result,
    "anthropic": _anthropic_tool_result,
}


# --------------------------------------------------------------------------- the chain

ORDER = ("yandexgpt", "openai", "anthropic", "local")


def _chain(
    harness: Harness, cooldowns: Any, **policy: Any
) -> tuple[AssistantChain, list[Integration]]:
    policy = {"cooldown_seconds": 60.0, "failure_threshold": 2, "failure_window": 60.0} | policy
    chain = AssistantChain(harness.adapters, harness.metrics, cooldowns, ChainPolicy(**policy))
    integrations = [harness.integration(p, id_=i) for i, p in enumerate(PROVIDERS, start=1)]
    return chain, integrations


def _calls(harness: Harness) -> dict[str, int]:
    return {p: len(harness.requests(p)) for p in PROVIDERS}


async def test_fallback_follows_the_tenants_order(harness: Harness) -> None:
    chain, integrations = _chain(harness, InMemoryCooldowns())
    harness.fault("yandexgpt", kind="http_error", status=503, count=1)
    harness.fault("openai", kind="http_error", status=500, count=1)
    harness.script("anthropic", "From Claude.")
    reply = await chain.answer(1, ORDER, integrations, request())
    assert (reply.provider, reply.text) == ("anthropic", "From Claude.")
    # Each failing provider was asked once: the chain is the retry.
    assert _calls(harness) == {"yandexgpt": 1, "openai": 1, "anthropic": 1}
    # Nothing connected but the local responder: it answers.
    alone = await chain.answer(1, ("openai", "local"), [], request())
    assert alone.provider == "local"


async def test_every_provider_down_leaves_the_local_responder(harness: Harness) -> None:
    chain, integrations = _chain(harness, InMemoryCooldowns())
    for platform in PROVIDERS:
        harness.fault(platform, kind="http_error", status=503)
    reply = await chain.answer(1, ORDER, integrations, request())
    assert reply.provider == "local"
    assert reply.text == "Order 1001 has been shipped. Tracking number: RR123456785RU."


async def test_a_slow_provider_is_left_after_its_timeout(harness: Harness) -> None:
    chain, integrations = _chain(harness, InMemoryCooldowns())
    integrations[1] = harness.integration("yandexgpt", id_=2, timeout_seconds=0.05)
    harness.fault("yandexgpt", kind="latency", latency_ms=30_000, count=1)
    harness.script("openai", "From OpenAI.")
    reply = await chain.answer(1, ORDER, integrations, request())
    assert reply.provider == "openai"
    errors = {"provider": "yandexgpt", "outcome": "error"}
    assert harness.metrics.registry.get_sample_value("ai_replies_total", errors) == 1


async def test_insufficient_quota_is_not_retried_and_benches_the_provider(
    harness: Harness,
) -> None:
    chain, integrations = _chain(harness, InMemoryCooldowns())
    harness.fault("openai", kind="rate_limit", code="insufficient_quota")
    await chain.answer(1, ("openai", "anthropic"), integrations, request())
    await chain.answer(1, ("openai", "anthropic"), integrations, request())
    assert _calls(harness)["openai"] == 1  # once, then cooled down at once
    assert _calls(harness)["anthropic"] == 2


async def test_anthropic_overloaded_goes_to_the_next_provider_at_once(harness: Harness) -> None:
    chain, integrations = _chain(harness, InMemoryCooldowns())
    harness.fault("anthropic", kind="http_error", status=529, count=1)
    harness.script("openai", "From OpenAI.")
    reply = await chain.answer(1, ("anthropic", "openai"), integrations, request())
    assert reply.provider == "openai"
    assert _calls(harness)["anthropic"] == 1  # not retried in place
    # One overload is not "keeps failing": the next message asks Anthropic again.
    harness.script("anthropic", "From Claude.")
    assert (await chain.answer(1, ("anthropic",), integrations, request())).provider == "anthropic"


async def test_a_rate_limited_provider_rests_for_its_retry_after(harness: Harness) -> None:
    cooldowns = InMemoryCooldowns(clock=lambda: clock[0])
    clock = [0.0]
    chain, integrations = _chain(harness, cooldowns)
    harness.fault("openai", kind="rate_limit", retry_after=30, count=1)
    await chain.answer(1, ("openai",), integrations, request())
    clock[0] = 29.0
    await chain.answer(1, ("openai",), integrations, request())
    assert _calls(harness)["openai"] == 1
    clock[0] = 31.0
    assert (await chain.answer(1, ("openai",), integrations, request())).provider == "openai"


@pytest.fixture(params=["memory", "redis"])
async def shared_cooldowns(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """Cool-downs as two workers see them: one object in process, or one Redis."""
    if request.param == "memory":
        yield InMemoryCooldowns()
        return
    async with scratch_redis() as (redis, prefix):
        yield RedisCooldowns(redis, prefix=prefix)


async def test_a_provider_that_keeps_failing_cools_down_for_every_worker(
    harness: Harness, shared_cooldowns: Any
) -> None:
    worker_a, integrations = _chain(harness, shared_cooldowns)
    worker_b, _ = _chain(harness, shared_cooldowns)
    harness.fault("yandexgpt", kind="http_error", status=503, count=2)
    await worker_a.answer(1, ORDER, integrations, request())
    assert _calls(harness)["yandexgpt"] == 1  # one failure is not "keeps failing"
    await worker_a.answer(1, ORDER, integrations, request())
    assert _calls(harness)["yandexgpt"] == 2
    harness.script("openai", "From OpenAI.")
    reply = await worker_b.answer(1, ORDER, integrations, request())
    assert reply.provider == "openai"
    assert _calls(harness)["yandexgpt"] == 2  # the other worker skipped it too
    # Integration ids follow PROVIDERS: openai 1, yandexgpt 2, anthropic 3.
    assert await shared_cooldowns.cooling(["ai:1", "ai:2", "ai:3"]) == {"ai:2"}


async def test_a_spent_budget_skips_providers_billed_in_it(harness: Harness) -> None:
    chain, integrations = _chain(harness, InMemoryCooldowns())
    harness.script("yandexgpt", "Из YandexGPT.")
    reply = await chain.answer(1, ORDER, integrations, request(), spent=frozenset({"RUB"}))
    assert reply.provider == "openai"
    reply = await chain.answer(1, ORDER, integrations, request(), spent=frozenset({"RUB", "USD"}))
    assert reply.provider == "local"
    assert _calls(harness)["yandexgpt"] == 0


# --------------------------------------------------------------------------- OpenAI families


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("gpt-4.1-mini", False),
        ("gpt-4o", False),
        ("gpt-5-chat-latest", False),
        ("o1", True),
        ("o3-mini", True),
        ("o4-mini", True),
        ("gpt-5", True),
        ("gpt-5-nano", True),
    ],
)
async def test_openai_sends_only_what_the_model_family_accepts(
    harness: Harness, model: str, reasoning: bool
) -> None:
    reply = await harness.model("openai", model=model).complete(request())
    assert reply.text and not reply.handover  # the sandbox refuses what the real API refuses
    [sent] = harness.requests("openai")
    body = sent.body
    assert body["model"] == model and "max_tokens" not in body
    assert body["max_completion_tokens"] == (2000 if reasoning else 500)
    assert ("temperature" in body) is not reasoning
    assert body.get("reasoning_effort") == ("low" if reasoning else None)
    assert body["messages"][0]["role"] == ("developer" if reasoning else "system")


async def test_the_sandbox_refuses_what_reasoning_models_reject(harness: Harness) -> None:
    http = httpx.AsyncClient(transport=httpx.ASGITransport(harness.sandbox.app))
    auth = {"Authorization": f"Bearer {KEYS['openai']}"}
    messages = [{"role": "user", "content": "hi"}]
    async with http:
        for model, extra, code in (
            ("o4-mini", {"temperature": 0.3}, "unsupported_value"),
            ("o4-mini", {"max_tokens": 100}, "unsupported_parameter"),
            ("gpt-4.1-mini", {"reasoning_effort": "low"}, "unsupported_parameter"),
        ):
            response = await http.post(
                f"{SANDBOX}/openai/v1/chat/completions",
                json={"model": model, "messages": messages, **extra},
                headers=auth,
            )
            assert (response.status_code, response.json()["error"]["code"]) == (400, code)


async def test_unreachable_shared_state_costs_the_memory_not_the_answer(harness: Harness) -> None:
    redis = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        chain, integrations = _chain(harness, RedisCooldowns(redis))
        harness.fault("openai", kind="http_error", status=503, count=1)
        harness.script("anthropic", "From Claude.")
        reply = await chain.answer(1, ("openai", "anthropic"), integrations, request())
    finally:
        await redis.aclose()
    assert (reply.provider, reply.text) == ("anthropic", "From Claude.")


async def test_an_answer_the_adapter_cannot_read_moves_on(harness: Harness) -> None:
    chain, integrations = _chain(harness, InMemoryCooldowns())
    harness.fault("openai", kind="malformed", count=1)
    harness.script("anthropic", "From Claude.")
    reply = await chain.answer(1, ("openai", "anthropic"), integrations, request())
    assert reply.provider == "anthropic"
