"""The OpenAI emulator over HTTP (platforms/openai.md §5): auth, envelopes, exact stream
chunks, usage, scripted replies, headers, the request log and rendered faults."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from easyflow.sandbox import FaultSpec, Sandbox
from support.sandbox_client import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT_PATH = "/openai/v1/chat/completions"


def chat_body(*messages: tuple[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4.1-mini",
        **extra,
        "messages": [{"role": r, "content": c} for r, c in messages],
    }


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


async def test_a_completion_echoes_the_last_user_message_with_usage(
    client: httpx.AsyncClient,
) -> None:
    body = chat_body(
        ("system", "You are a support assistant for Hub Pizza."),
        ("user", "Hello"),
        ("assistant", "Hi!"),
        ("user", "Where is order 42?"),
    )
    response = await client.post(CHAT_PATH, headers=AUTH, json=body)
    assert response.status_code == 200
    completion = response.json()
    assert completion["object"] == "chat.completion" and completion["id"].startswith("chatcmpl-")
    [choice] = completion["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "refusal": None,
        "annotations": [],
        "content": "Sandbox reply to: Where is order 42?",
    }
    assert choice["finish_reason"] == "stop"
    # ceil(chars / 4) per message: 42/4 -> 11, 5/4 -> 2, 3/4 -> 1, 18/4 -> 5; reply 36/4 -> 9
    usage = completion["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        19,
        9,
        28,
    )


async def test_scripted_replies_come_first_in_order(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    sandbox.openai.script(["Order 42 left the kitchen.", "Anything else?"])
    replies = []
    for _ in range(3):
        response = await client.post(CHAT_PATH, headers=AUTH, json=chat_body(("user", "q")))
        replies.append(response.json()["choices"][0]["message"]["content"])
    assert replies == ["Order 42 left the kitchen.", "Anything else?", "Sandbox reply to: q"]


async def test_max_tokens_cuts_the_reply_with_finish_reason_length(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    sandbox.openai.script(["x" * 100])
    response = await client.post(
        CHAT_PATH, headers=AUTH, json=chat_body(("user", "q"), max_completion_tokens=5)
    )
    choice = response.json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("x" * 20, "length")


async def test_the_stream_is_the_exact_chunk_format_with_the_usage_chunk(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    sandbox.openai.script(["Order 42 left"])
    response = await client.post(
        CHAT_PATH,
        headers=AUTH,
        json=chat_body(("user", "Where?"), stream=True, stream_options={"include_usage": True}),
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = response.text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    cid = chunks[0]["id"]
    assert all(c["id"] == cid and c["object"] == "chat.completion.chunk" for c in chunks)
    deltas = [c["choices"][0]["delta"] if c["choices"] else None for c in chunks]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Order"},
        {"content": " 42"},
        {"content": " left"},
        {},
        None,
    ]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * 4 + ["stop"]
    assert [c["usage"] for c in chunks[:-1]] == [None] * 5
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    assert response.text.startswith('data: {"id":"' + cid + '","object":"chat.completion.chunk",')


async def test_without_include_usage_there_is_no_usage_chunk(client: httpx.AsyncClient) -> None:
    response = await client.post(
        CHAT_PATH, headers=AUTH, json=chat_body(("user", "a b"), stream=True)
    )
    chunks = [json.loads(e[6:]) for e in response.text.split("\n\n")[:-2]]
    assert all(c["choices"] and "usage" not in c for c in chunks)


async def test_the_responses_api_object(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/openai/v1/responses",
        headers=AUTH,
        json={"model": "gpt-4.1-mini", "instructions": "Be brief.", "input": "Where is order 42?"},
    )
    body = response.json()
    assert (body["object"], body["status"], body["model"]) == (
        "response",
        "completed",
        "gpt-4.1-mini",
    )
    [item] = body["output"]
    assert item["type"] == "message" and item["role"] == "assistant"
    assert item["content"] == [
        {"type": "output_text", "annotations": [], "text": "Sandbox reply to: Where is order 42?"}
    ]
    assert body["usage"]["input_tokens"] == 7 and body["usage"]["output_tokens"] == 9
    assert body["usage"]["total_tokens"] == 16


async def test_models_are_listed(client: httpx.AsyncClient) -> None:
    body = (await client.get("/openai/v1/models", headers=AUTH)).json()
    assert body["object"] == "list"
    assert "gpt-4.1-mini" in [m["id"] for m in body["data"]]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer sk-wrong-key-123"}, {"Authorization": f"Basic {KEY}"}]
)
async def test_requests_without_a_registered_key_get_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post(CHAT_PATH, headers=headers, json=chat_body(("user", "q")))
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_api_key"
    assert response.headers["x-request-id"].startswith("req_")
    assert "x-ratelimit-limit-requests" not in response.headers


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": [{"role": "user", "content": "q"}]}, None, None),
        ({"model": "gpt-4.1-mini"}, "messages", "missing_required_parameter"),
        ({"model": "gpt-4.1-mini", "messages": []}, "messages", "empty_array"),
        (
            {"model": "gpt-4.1-mini", "messages": [{"role": "robot"}]},
            "messages[0].role",
            "invalid_value",
        ),
    ],
)
async def test_invalid_requests_get_400(
    client: httpx.AsyncClient, body: dict[str, Any], param: str | None, code: str | None
) -> None:
    response = await client.post(CHAT_PATH, headers=AUTH, json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


async def test_unknown_paths_get_openai_404s(client: httpx.AsyncClient) -> None:
    response = await client.post("/openai/v1/embeddings", headers=AUTH, json={})
    assert response.status_code == 404
    assert error_of(response)["message"] == "Invalid URL (POST /v1/embeddings)"


async def test_every_response_has_a_request_id_and_rate_limit_headers(
    client: httpx.AsyncClient,
) -> None:
    first = await client.post(CHAT_PATH, headers=AUTH, json=chat_body(("user", "12345678")))
    second = await client.post(CHAT_PATH, headers=AUTH, json=chat_body(("user", "q")))
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert second.headers["x-ratelimit-limit-requests"] == "10000"
    assert second.headers["x-ratelimit-remaining-requests"] == "9998"
    # "12345678" -> 2, "Sandbox reply to: 12345678" -> 7; "q" -> 1, "Sandbox reply to: q" -> 5
    assert second.headers["x-ratelimit-remaining-tokens"] == str(2_000_000 - (2 + 7) - (1 + 5))
    assert second.headers["x-ratelimit-reset-requests"] == "1m0s"  # frozen clock: a full minute


async def test_the_request_budget_is_enforced_with_a_transient_429(make_sandbox: Any) -> None:
    sandbox = make_sandbox()
    sandbox.openai.config.requests_per_minute = 1
    await sandbox.openai.reset()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sandbox), base_url="http://sandbox"
    ) as client:
        assert (await client.get("/openai/v1/models", headers=AUTH)).is_success
        limited = await client.get("/openai/v1/models", headers=AUTH)
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "rate_limit_exceeded"
    assert limited.headers["retry-after"] == "60"
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"


async def test_each_request_is_recorded_with_its_body(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    history = [("system", "You are Hub Pizza's assistant.")] + [
        ("user" if i % 2 == 0 else "assistant", f"m{i}") for i in range(10)
    ]
    body = chat_body(*history, user="hub-tenant-7")
    await client.post(CHAT_PATH, headers={**AUTH, "Idempotency-Key": "k1"}, json=body)
    [recorded] = sandbox.openai.requests(CHAT_PATH.removeprefix("/openai"))
    assert recorded.body == body and recorded.status == 200
    assert recorded.body["messages"][0]["role"] == "system"
    assert len(recorded.body["messages"][1:]) == 10
    assert (recorded.api_key, recorded.idempotency_key) == (KEY, "k1")


@pytest.mark.parametrize(
    ("spec", "status", "code", "headers"),
    [
        (
            {"kind": "rate_limit", "retry_after": 0.25},
            429,
            "rate_limit_exceeded",
            {"retry-after": "1", "retry-after-ms": "250"},
        ),
        ({"kind": "rate_limit", "code": "insufficient_quota"}, 429, "insufficient_quota", {}),
        (
            {"kind": "http_error", "status": 503, "should_retry": True},
            503,
            None,
            {"x-should-retry": "true"},
        ),
        ({"kind": "http_error", "status": 500}, 500, "server_error", {}),
    ],
)
async def test_faults_are_rendered_in_openai_s_envelope(
    sandbox: Sandbox,
    client: httpx.AsyncClient,
    spec: dict[str, Any],
    status: int,
    code: str | None,
    headers: dict[str, str],
) -> None:
    sandbox.faults.add(FaultSpec(platform="openai", method="chat.completions", count=1, **spec))
    response = await client.post(CHAT_PATH, headers=AUTH, json=chat_body(("user", "q")))
    assert response.status_code == status and error_of(response)["code"] == code
    for name, value in headers.items():
        assert response.headers[name] == value
    if code == "insufficient_quota":
        assert "retry-after" not in response.headers
        assert error_of(response)["type"] == "insufficient_quota"
    assert (await client.post(CHAT_PATH, headers=AUTH, json=chat_body(("user", "q")))).is_success


async def test_a_malformed_fault_breaks_the_json(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    sandbox.faults.add(FaultSpec(platform="openai", kind="malformed", count=1))
    response = await client.post(CHAT_PATH, headers=AUTH, json=chat_body(("user", "q")))
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
