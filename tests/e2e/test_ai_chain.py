"""Replies from the tenant's provider chain (YandexGPT, OpenAI, Anthropic, the local
responder), grounded in the hub's facts: fallback, cool-down, quota, models checked when
added, usage and cost recorded per provider and model, and the monthly budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from easyflow.domain.commerce import Product
from easyflow.domain.tenancy import Capability
from easyflow.sandbox.faults import FaultSpec
from support.hub import ORDERS, PROFILE, Hub, running_hub

OPENAI_KEY = "sk-test-" + "k" * 24
YANDEX_KEY = "AQVN-test-key-000000000000000"
ANTHROPIC_KEY = "sk-ant-test-" + "k" * 20
FOLDER = "b1gtestfolder0000000"
COMPLETIONS = "/v1/chat/completions"
YANDEX = "/foundationModels/v1/completion"
GREETING = "Hello! I can tell you where your order is — just send its number."


@pytest.fixture
async def ai_hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    profile = replace(PROFILE, providers=("openai", "local"))
    async with running_hub(
        migrated_database_url, tmp_path, encryption_key, profile=profile, ai_failure_threshold=2
    ) as hub:
        hub.sandbox.openai.add_key(OPENAI_KEY)
        hub.sandbox.yandexgpt.add_key(YANDEX_KEY, FOLDER)
        hub.sandbox.anthropic.add_key(ANTHROPIC_KEY)
        await hub.container.integrations.add(
            hub.tenant_id, "openai", {"api_key": OPENAI_KEY}, settings={"model": "gpt-4.1-mini"}
        )
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        yield hub


async def _costs(hub: Hub) -> dict[str, Any]:
    response = await hub.http.get("/api/v1/ai/costs", headers=hub.auth)
    assert response.status_code == 200
    return dict(response.json())


async def _providers(hub: Hub, *providers: str) -> None:
    response = await hub.http.put(
        "/api/v1/ai/profile",
        json={"system_prompt": PROFILE.system_prompt, "providers": list(providers)},
        headers=hub.auth,
    )
    assert response.status_code == 204, response.text


async def test_openai_answers_with_the_profile_the_facts_and_the_last_ten_messages(
    ai_hub: Hub,
) -> None:
    hub = ai_hub
    await hub.link_customer()  # its orders are in the facts; 4242 is not among them
    hub.sandbox.openai.script([f"answer {i}" for i in range(7)])
    for i in range(6):
        await hub.sandbox.telegram.customer_writes(hub.token, 5550001, f"question {i}")
    await hub.customer_writes("Where is my order 1001? And 4242?")
    assert hub.sent() == [f"answer {i}" for i in range(7)]

    last = hub.sandbox.openai.requests(COMPLETIONS)[-1].body
    system, *turns = last["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You are the support assistant of Test Shop.")
    assert "Order 1001: status shipped, tracking number RR1RU" in system["content"]
    assert "Order 4242: not found" in system["content"]
    assert "delivery: We deliver in 2-4 days." in system["content"]
    assert len(turns) == 10
    assert turns[-1] == {"role": "user", "content": "Where is my order 1001? And 4242?"}
    assert turns[-2] == {"role": "assistant", "content": "answer 5"}
    assert last["model"] == "gpt-4.1-mini"

    usage = (await hub.http.get("/api/v1/ai/usage", headers=hub.auth)).json()
    assert usage["requests"] == 7
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    [line] = (await _costs(hub))["lines"]
    assert (line["provider"], line["model"], line["currency"], line["requests"]) == (
        "openai",
        "gpt-4.1-mini",
        "USD",
        7,
    )
    expected = (
        Decimal("0.40") * line["prompt_tokens"] + Decimal("1.60") * line["completion_tokens"]
    ) / 1_000_000
    assert Decimal(line["cost"]) == expected.quantize(Decimal("0.00000001"))


async def test_a_tool_call_reaches_the_customer_with_only_their_facts(ai_hub: Hub) -> None:
    hub = ai_hub
    await hub.link_customer()
    hub.sandbox.openai.script_tool_call("lookup_order", order_number="1002")
    hub.sandbox.openai.script(["1002 is being packed."])
    await hub.customer_writes("Where is my order 1002?")
    assert hub.sent() == ["1002 is being packed."]
    _, answer = hub.sandbox.openai.requests(COMPLETIONS)
    tool = answer.body["messages"][-1]
    assert tool["role"] == "tool" and "Order 1002: status assembling" in tool["content"]
    # A stranger's model asking about the same order is told nothing about it.
    hub.sandbox.openai.script_tool_call("lookup_order", order_number="1002")
    hub.sandbox.openai.script(["Please confirm the phone number."])
    await hub.customer_writes("Where is order 1002?", chat_id=5550009)
    *_, stranger = hub.sandbox.openai.requests(COMPLETIONS)
    tool = stranger.body["messages"][-1]
    assert "assembling" not in tool["content"] and "has not confirmed" in tool["content"]


async def test_an_openai_outage_falls_back_then_cools_down(ai_hub: Hub) -> None:
    hub = ai_hub
    await hub.link_customer()
    hub.sandbox.faults.add(FaultSpec(platform="openai", kind="http_error", status=503))
    await hub.customer_writes("Where is my order 1002?")
    assert hub.sent() == ["Order 1002 is being packed."]
    await hub.customer_writes("Hello!")
    assert hub.sent()[-1] == GREETING
    registry = hub.container.metrics.registry
    errors = {"provider": "openai", "outcome": "error"}
    assert registry.get_sample_value("ai_replies_total", errors) == 2
    # Two failures in a row (EASYFLOW_AI_FAILURE_THRESHOLD=2): it is left alone for a while.
    calls_before = len(hub.sandbox.openai.requests(COMPLETIONS))
    await hub.customer_writes("Hello!")
    assert len(hub.sandbox.openai.requests(COMPLETIONS)) == calls_before == 2
    assert hub.sent()[-1] == GREETING


async def test_exhausted_quota_is_not_retried(ai_hub: Hub) -> None:
    hub = ai_hub
    hub.sandbox.faults.add(
        FaultSpec(platform="openai", kind="rate_limit", code="insufficient_quota", count=5)
    )
    await hub.customer_writes("Hello!")
    await hub.customer_writes("Hello!")
    assert len(hub.sandbox.openai.requests(COMPLETIONS)) == 1
    assert hub.sent() == [GREETING, GREETING]


async def test_yandexgpt_first_anthropic_on_overload_and_costs_per_provider(ai_hub: Hub) -> None:
    hub = ai_hub
    c = hub.container
    await c.integrations.add(
        hub.tenant_id, "yandexgpt", {"api_key": YANDEX_KEY}, settings={"folder_id": FOLDER}
    )
    await c.integrations.add(hub.tenant_id, "anthropic", {"api_key": ANTHROPIC_KEY})
    await _providers(hub, "yandexgpt", "anthropic", "openai", "local")
    hub.sandbox.yandexgpt.script(["Здравствуйте!"])
    await hub.customer_writes("Привет!")
    hub.sandbox.faults.add(FaultSpec(platform="yandexgpt", kind="http_error", status=503, count=1))
    hub.sandbox.anthropic.script(["From Claude."])
    await hub.customer_writes("Hello again")
    hub.sandbox.faults.add(FaultSpec(platform="yandexgpt", kind="rate_limit", count=1))
    hub.sandbox.faults.add(FaultSpec(platform="anthropic", kind="http_error", status=529, count=1))
    hub.sandbox.openai.script(["From OpenAI."])
    await hub.customer_writes("And once more")
    assert hub.sent() == ["Здравствуйте!", "From Claude.", "From OpenAI."]
    [first, *_] = hub.sandbox.yandexgpt.requests(YANDEX)
    assert first.body["modelUri"] == f"gpt://{FOLDER}/yandexgpt-lite/latest"
    lines = {(x["provider"], x["currency"]): x for x in (await _costs(hub))["lines"]}
    assert set(lines) == {("yandexgpt", "RUB"), ("anthropic", "USD"), ("openai", "USD")}
    assert all(Decimal(line["cost"]) > 0 and line["requests"] == 1 for line in lines.values())


async def test_a_spent_monthly_budget_leaves_the_local_responder(ai_hub: Hub) -> None:
    hub = ai_hub
    response = await hub.http.put(
        "/api/v1/ai/budgets/USD", json={"monthly_limit": "0.0001"}, headers=hub.auth
    )
    assert response.status_code == 204
    hub.sandbox.openai.script(["x" * 400])  # 100 tokens: 0.00016 USD, over the budget
    await hub.customer_writes("Hello!")
    await hub.customer_writes("Hello!")
    assert hub.sent() == ["x" * 400, GREETING]
    assert len(hub.sandbox.openai.requests(COMPLETIONS)) == 1
    costs = await _costs(hub)
    assert costs["budgets"] == {"USD": "0.0001"}
    assert costs["exhausted"] == ["USD"]
    bad = await hub.http.put(
        "/api/v1/ai/budgets/usd", json={"monthly_limit": "-1"}, headers=hub.auth
    )
    assert bad.status_code == 422


REFUSED = [
    ("openai", {"api_key": OPENAI_KEY}, {"model": "gpt-4.1-mini-typo"}, "does not exist"),
    ("anthropic", {"api_key": ANTHROPIC_KEY}, {"model": "claude-typo"}, "claude-typo"),
    ("yandexgpt", {"api_key": YANDEX_KEY}, {"folder_id": FOLDER, "model": "nope"}, "nope"),
    ("yandexgpt", {"api_key": YANDEX_KEY}, {}, "folder_id"),
    ("openai", {"api_key": OPENAI_KEY}, {"temperature": "hot"}, "temperature"),
    ("anthropic", {"api_key": "sk-ant-unknown-0000"}, {}, "invalid x-api-key"),
]


async def test_an_integration_the_provider_refuses_is_not_stored(ai_hub: Hub) -> None:
    for platform, credentials, settings, reason in REFUSED:
        response = await ai_hub.http.post(
            "/api/v1/integrations",
            json={"platform": platform, "credentials": credentials, "settings": settings},
            headers=ai_hub.auth,
        )
        assert response.status_code == 400, response.text
        detail = response.json()["detail"]
        assert f"{platform} refused the integration" in detail and reason in detail
    listed = (await ai_hub.http.get("/api/v1/integrations", headers=ai_hub.auth)).json()
    assert [i["platform"] for i in listed] == ["telegram", "openai"]


async def test_a_product_question_puts_the_named_catalogue_entries_before_the_model(
    ai_hub: Hub,
) -> None:
    hub = ai_hub
    async with hub.container.uow() as uow:
        shop = await uow.integrations.add(
            hub.tenant_id, "ozon", Capability.MARKETPLACE, "ozon", {"api_key": "k"}, {}
        )
        now = datetime.now(UTC)
        catalogue = [
            Product("1", "MIL-3", "Sofa Milano, grey", now, "ozon"),
            Product("2", "OSL-1", "Armchair Oslo", now, "ozon"),
            Product("3", "MIL-OLD", "Sofa Milano, 2019", now, "ozon", archived=True),
        ]
        await uow.products.upsert_many(hub.tenant_id, shop.id, catalogue, run_id=1)
        await uow.commit()
    hub.sandbox.openai.script_tool_call("search_products", query="milano")
    hub.sandbox.openai.script(["The Milano sofa is in our catalogue."])
    await hub.customer_writes("Do you sell the Milano sofa?")
    assert hub.sent()[-1] == "The Milano sofa is in our catalogue."
    first, answer = hub.sandbox.openai.requests(COMPLETIONS)
    system = first.body["messages"][0]["content"]
    assert "Sofa Milano, grey (article MIL-3, listed on ozon)" in system
    assert "Oslo" not in system and "2019" not in system  # not named; archived
    tool = answer.body["messages"][-1]
    assert tool["role"] == "tool" and tool["content"] == (
        "Sofa Milano, grey (article MIL-3, listed on ozon)"
    )
