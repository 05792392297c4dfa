"""Replies from OpenAI, grounded in the hub's facts, with the local responder as fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from easyflow.sandbox.faults import FaultSpec
from support.hub import ORDERS, PROFILE, Hub, running_hub

OPENAI_KEY = "sk-test-" + "k" * 24
COMPLETIONS = "/v1/chat/completions"


@pytest.fixture
async def ai_hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    profile = replace(PROFILE, providers=("openai", "local"))
    async with running_hub(migrated_database_url, tmp_path, encryption_key, profile=profile) as hub:
        hub.sandbox.openai.add_key(OPENAI_KEY)
        await hub.container.integrations.add(
            hub.tenant_id, "openai", {"api_key": OPENAI_KEY}, settings={"model": "gpt-4.1-mini"}
        )
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        yield hub


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


async def test_openai_outage_falls_back_to_the_local_responder(ai_hub: Hub) -> None:
    hub = ai_hub
    await hub.link_customer()
    hub.sandbox.faults.add(FaultSpec(platform="openai", kind="http_error", status=503, count=50))
    await hub.customer_writes("Where is my order 1002?")
    assert hub.sent() == ["Order 1002 is being packed."]
    registry = hub.container.metrics.registry
    assert (
        registry.get_sample_value("ai_replies_total", {"provider": "openai", "outcome": "error"})
        == 1
    )
    # The provider is cooling down: the next message goes straight to the local responder.
    calls_before = len(hub.sandbox.openai.requests(COMPLETIONS))
    await hub.customer_writes("Hello!")
    assert len(hub.sandbox.openai.requests(COMPLETIONS)) == calls_before


async def test_exhausted_quota_is_not_retried(ai_hub: Hub) -> None:
    hub = ai_hub
    hub.sandbox.faults.add(
        FaultSpec(platform="openai", kind="rate_limit", code="insufficient_quota", count=5)
    )
    await hub.customer_writes("Hello!")
    assert len(hub.sandbox.openai.requests(COMPLETIONS)) == 1
    assert hub.sent() == ["Hello! I can tell you where your order is — just send its number."]


async def test_an_openai_key_the_platform_refuses_is_not_stored(ai_hub: Hub) -> None:
    response = await ai_hub.http.post(
        "/api/v1/integrations",
        json={"platform": "openai", "credentials": {"api_key": "sk-unknown-0000000000000000"}},
        headers=ai_hub.auth,
    )
    assert response.status_code == 400
    assert "openai refused the integration" in response.json()["detail"]
    listed = (await ai_hub.http.get("/api/v1/integrations", headers=ai_hub.auth)).json()
    assert [i["platform"] for i in listed] == ["telegram", "openai"]
