"""The Anthropic emulator on the wire (docs/ai.md): what it refuses, its
headers, its per-minute budget, count_tokens, models and the SSE event sequence."""

from __future__ import annotations

import json
from typing import Any

import httpx

from easyflow.sandbox import ManualClock, SandboxConfig, create_sandbox_app
from easyflow.sandbox.anthropic import DEMO_ANTHROPIC_KEY, AnthropicConfig

HEADERS = {"x-api-key": DEMO_ANTHROPIC_KEY, "anthropic-version": "2023-06-01"}
BODY: dict[str, Any] = {
    "model": "claude-haiku-4-5",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "Where is order 42?"}],
}
URL = "/anthropic/v1/messages"


async def post(client: httpx.AsyncClient, body: Any, headers: Any = None) -> httpx.Response:
    return await client.post(URL, json=body, headers=HEADERS if headers is None else headers)


async def test_a_message_and_its_headers(client: httpx.AsyncClient) -> None:
    response = await post(client, BODY)
    assert response.status_code == 200
    body = response.json()
    assert (body["type"], body["role"], body["stop_reason"]) == ("message", "assistant", "end_turn")
    assert body["content"] == [{"type": "text", "text": "Sandbox reply to: Where is order 42?"}]
    assert body["usage"]["input_tokens"] == 5 and body["usage"]["output_tokens"] == 9
    assert response.headers["request-id"].startswith("req_011C")
    assert response.headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert response.headers["anthropic-ratelimit-requests-remaining"] == "3999"
    assert response.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert response.headers["anthropic-ratelimit-tokens-limit"] == "400000"
    # This answer's tokens (5 in, 9 out) are counted already.
    assert response.headers["anthropic-ratelimit-input-tokens-remaining"] == str(400_000 - 5)
    assert response.headers["anthropic-ratelimit-output-tokens-remaining"] == str(400_000 - 9)


async def test_what_the_api_refuses(client: httpx.AsyncClient) -> None:
    cases = [
        ({**BODY}, {"x-api-key": DEMO_ANTHROPIC_KEY}, 400, "anthropic-version"),
        ({**BODY}, {**HEADERS, "x-api-key": "sk-ant-wrong"}, 401, "invalid x-api-key"),
        ({k: v for k, v in BODY.items() if k != "max_tokens"}, None, 400, "max_tokens"),
        (
            {**BODY, "messages": [{"role": "system", "content": "x"}, *BODY["messages"]]},
            None,
            400,
            "top-level `system`",
        ),
        ({**BODY, "model": "claude-none"}, None, 404, "model: claude-none"),
        ({**BODY, "tools": [{"name": "t"}]}, None, 400, "input_schema"),
    ]
    for body, headers, status, words in cases:
        response = await post(client, body, headers)
        assert response.status_code == status, body
        error = response.json()
        assert error["type"] == "error" and words in error["error"]["message"]
        assert error["request_id"] == response.headers["request-id"]


async def test_the_per_minute_budgets_are_a_real_429() -> None:
    clock = ManualClock()
    config = SandboxConfig.demo()
    config.anthropic = AnthropicConfig(api_keys=[DEMO_ANTHROPIC_KEY], requests_per_minute=2)
    async with create_sandbox_app(config, clock=clock) as sandbox:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(sandbox), base_url="http://s")
        async with http:
            assert (await post(http, BODY)).status_code == 200
            clock.advance(10)
            assert (await post(http, BODY)).status_code == 200
            limited = await post(http, BODY)
            assert limited.status_code == 429
            assert limited.json()["error"]["type"] == "rate_limit_error"
            assert limited.headers["retry-after"] == "50"
            clock.advance(50)
            assert (await post(http, BODY)).status_code == 200
    config.anthropic = AnthropicConfig(api_keys=[DEMO_ANTHROPIC_KEY], tokens_per_minute=20)
    async with create_sandbox_app(config, clock=clock) as sandbox:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(sandbox), base_url="http://s")
        async with http:
            sandbox.anthropic.script(["x" * 200])  # a minute's tokens in one answer
            assert (await post(http, BODY)).status_code == 200
            spent = await post(http, BODY)
            assert spent.status_code == 429 and "20 tokens per minute" in spent.text


async def test_count_tokens_and_models(client: httpx.AsyncClient) -> None:
    counted = await client.post(
        "/anthropic/v1/messages/count_tokens",
        json={k: v for k, v in BODY.items() if k != "max_tokens"} | {"system": "abcd" * 3},
        headers=HEADERS,
    )
    assert counted.json() == {"input_tokens": 3 + 5}
    models = (await client.get("/anthropic/v1/models", headers=HEADERS)).json()
    assert "claude-haiku-4-5" in [m["id"] for m in models["data"]]
    one = await client.get("/anthropic/v1/models/claude-nope", headers=HEADERS)
    assert (one.status_code, one.json()["error"]["type"]) == (404, "not_found_error")


async def test_the_stream_event_sequence(client: httpx.AsyncClient) -> None:
    response = await post(client, {**BODY, "stream": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("data: ", 1)[1]))
        for block in response.text.strip().split("\n\n")
    ]
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "Sandbox reply to: Where is order 42?"
    assert events[-2][1]["usage"] == {"output_tokens": 9}
