"""Fault injection: which calls a rule hits (count, seeded rate, method, path) and how each
kind is rendered in the platform's own envelope."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from pydantic import ValidationError

from easyflow.sandbox import FaultSpec, Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.faults import FaultEngine
from support.sandbox_client import CHAT, TOKEN, bot_call, client_for


def pattern(engine: FaultEngine, calls: int = 40) -> list[bool]:
    return [engine.pick("telegram", "sendMessage") is not None for _ in range(calls)]


def test_count_hits_the_next_n_matching_calls_only() -> None:
    engine = FaultEngine()
    fault = engine.add(
        FaultSpec(platform="telegram", kind="http_error", method="SENDMESSAGE", count=2)
    )
    assert engine.pick("telegram", "getMe") is None
    assert engine.pick("openai", "sendMessage") is None
    assert pattern(engine, 4) == [True, True, False, False]
    assert (fault.remaining, fault.hits) == (0, 2)


def test_rate_is_deterministic_for_a_seed() -> None:
    spec = FaultSpec(platform="telegram", kind="http_error", rate=0.3)
    first, second, other = FaultEngine(seed=7), FaultEngine(seed=7), FaultEngine(seed=8)
    for engine in (first, second, other):
        engine.add(spec)
    assert pattern(first) == pattern(second)
    assert pattern(FaultEngine(seed=7)) == [False] * 40  # no rules, no faults
    hits = sum(pattern(other, 1000))
    assert 200 < hits < 400


def test_clear_replays_the_same_dice() -> None:
    engine = FaultEngine(seed=3)
    spec = FaultSpec(platform="telegram", kind="http_error", rate=0.5)
    engine.add(spec)
    before = pattern(engine)
    engine.clear()
    engine.add(spec)
    assert pattern(engine) == before


def test_path_is_a_prefix_match() -> None:
    engine = FaultEngine()
    engine.add(FaultSpec(platform="openai", kind="malformed", path="/v1/chat"))
    assert engine.pick("openai", "chat.completions", "/v1/chat/completions") is not None
    assert engine.pick("openai", "models", "/v1/models") is None


def test_count_and_rate_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="either count or rate"):
        FaultSpec(platform="telegram", kind="http_error", count=1, rate=0.5)


async def test_telegram_renders_http_errors_rate_limits_and_malformed_bodies(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    faults = sandbox.faults
    faults.add(FaultSpec(platform="telegram", kind="http_error", status=502, count=1))
    faults.add(
        FaultSpec(
            platform="telegram",
            kind="http_error",
            status=403,
            count=1,
            message="Forbidden: user is deactivated",
        )
    )
    faults.add(FaultSpec(platform="telegram", kind="rate_limit", retry_after=2.5, count=1))
    faults.add(FaultSpec(platform="telegram", kind="malformed", count=1))
    responses = [await bot_call(client, "getMe") for _ in range(5)]
    assert [r.status_code for r in responses] == [502, 403, 429, 200, 200]
    assert responses[0].json() == {"ok": False, "error_code": 502, "description": "Bad Gateway"}
    assert responses[1].json()["description"] == "Forbidden: user is deactivated"
    assert responses[2].json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    with pytest.raises(json.JSONDecodeError):
        responses[3].json()
    assert responses[4].json()["ok"] is True


async def test_latency_delays_and_then_serves_normally(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.add(FaultSpec(platform="telegram", kind="latency", latency_ms=50, count=1))
    started = time.monotonic()
    response = await bot_call(client, "getMe")
    assert time.monotonic() - started >= 0.05
    assert response.json()["ok"] is True


async def test_a_timeout_holds_the_response_then_fails_with_no_side_effect(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    sandbox.faults.add(
        FaultSpec(
            platform="telegram", kind="timeout", hold_seconds=0.05, method="sendMessage", count=1
        )
    )
    started = time.monotonic()
    response = await bot_call(client, "sendMessage", chat_id=CHAT, text="x")
    assert time.monotonic() - started >= 0.05
    assert (response.status_code, response.json()["description"]) == (504, "Gateway Timeout")
    assert sandbox.telegram.sent(TOKEN) == []


async def test_configured_faults_are_installed_and_come_back_after_reset() -> None:
    config = SandboxConfig.demo()
    config.faults = [FaultSpec(platform="telegram", kind="http_error", method="getMe", count=1)]
    async with create_sandbox_app(config) as sandbox, client_for(sandbox) as client:
        assert (await bot_call(client, "getMe")).status_code == 500
        assert (await bot_call(client, "getMe")).is_success
        await sandbox.reset()
        assert (await bot_call(client, "getMe")).status_code == 500
