"""The YandexGPT emulator on the wire (docs/ai.md): auth and folders, the
`result` wrapper with string usage, statuses, cumulative NDJSON streaming, async operations
with their 3-day life, the concurrency quota and the gateway's error shape."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from easyflow.sandbox import FaultSpec, ManualClock, Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.yandexgpt import DEMO_YANDEXGPT_FOLDER, DEMO_YANDEXGPT_KEY, YandexGPTConfig

FOLDER = DEMO_YANDEXGPT_FOLDER
AUTH = {"Authorization": f"Api-Key {DEMO_YANDEXGPT_KEY}"}
URL = "/yandexgpt/foundationModels/v1/completion"


def body(text: str = "Где заказ 42?", **options: Any) -> dict[str, Any]:
    return {
        "modelUri": f"gpt://{FOLDER}/yandexgpt-lite/latest",
        "completionOptions": {"stream": False, "temperature": 0.3, "maxTokens": "500"} | options,
        "messages": [
            {"role": "system", "text": "Ты помощник службы доставки."},
            {"role": "user", "text": text},
        ],
    }


async def test_a_completion_in_its_result_wrapper(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=body(), headers=AUTH)
    assert response.status_code == 200
    result = response.json()["result"]
    [alternative] = result["alternatives"]
    assert alternative == {
        "message": {"role": "assistant", "text": "Sandbox reply to: Где заказ 42?"},
        "status": "ALTERNATIVE_STATUS_FINAL",
    }
    usage = result["usage"]
    assert usage["inputTextTokens"] == "11" and usage["completionTokens"] == "8"
    assert usage["totalTokens"] == "19"  # strings: int64 in proto3 JSON
    assert result["modelVersion"]


async def test_what_the_api_refuses(client: httpx.AsyncClient) -> None:
    content = body()
    content["messages"][1] = {"role": "user", "content": "x"}
    other_folder = body() | {"modelUri": "gpt://b1gsomeoneelse000000/yandexgpt-lite/latest"}
    cases = [
        (body(), {"Authorization": "Api-Key AQVN-unknown"}, 401, 16, "Unknown api key"),
        (content, AUTH, 400, 3, 'unknown field "content"'),
        (other_folder, AUTH, 403, 7, "denied"),
        (body() | {"modelUri": "yandexgpt-lite"}, AUTH, 400, 3, "Invalid modelUri"),
        (body() | {"modelUri": f"gpt://{FOLDER}/gpt-9/latest"}, AUTH, 404, 5, "not found"),
        (body(temperature=1.5), AUTH, 400, 3, "temperature"),
        (body(maxTokens="many"), AUTH, 400, 3, "maxTokens"),
    ]
    for request_body, headers, status, grpc, words in cases:
        response = await client.post(URL, json=request_body, headers=headers)
        assert response.status_code == status, request_body
        error = response.json()["error"]
        assert (error["httpCode"], error["grpcCode"]) == (status, grpc)
        assert words in error["message"]


async def test_an_iam_token_needs_the_folder_header(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    sandbox.yandexgpt.add_iam_token("t1.sandbox-iam-token")
    bearer = {"Authorization": "Bearer t1.sandbox-iam-token"}
    assert (await client.post(URL, json=body(), headers=bearer)).status_code == 403
    ok = await client.post(URL, json=body(), headers=bearer | {"x-folder-id": FOLDER})
    assert ok.status_code == 200


async def test_truncated_and_filtered_alternatives(client: httpx.AsyncClient) -> None:
    cut = (await client.post(URL, json=body(maxTokens="2"), headers=AUTH)).json()["result"]
    [alternative] = cut["alternatives"]
    assert alternative["status"] == "ALTERNATIVE_STATUS_TRUNCATED_FINAL"
    assert alternative["message"]["text"] == "Sandbox "  # 2 tokens: 8 characters
    filtered = await client.post(URL, json=body("sandbox-filtered words"), headers=AUTH)
    [alternative] = filtered.json()["result"]["alternatives"]
    assert alternative["status"] == "ALTERNATIVE_STATUS_CONTENT_FILTER"


async def test_the_stream_is_cumulative_ndjson(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=body(stream=True), headers=AUTH)
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert not response.text.startswith("data:")
    texts = [line["result"]["alternatives"][0]["message"]["text"] for line in lines]
    assert texts == [
        "Sandbox",
        "Sandbox reply",
        "Sandbox reply to:",
        "Sandbox reply to: Где",
        "Sandbox reply to: Где заказ",
        "Sandbox reply to: Где заказ 42?",
    ]
    statuses = [line["result"]["alternatives"][0]["status"] for line in lines]
    assert statuses[-1] == "ALTERNATIVE_STATUS_FINAL"
    assert set(statuses[:-1]) == {"ALTERNATIVE_STATUS_PARTIAL"}


async def test_async_operations_live_three_days() -> None:
    clock = ManualClock()
    async with create_sandbox_app(SandboxConfig.demo(), clock=clock) as sandbox:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(sandbox), base_url="http://s")
        async with http:
            submitted = await http.post(
                "/yandexgpt/foundationModels/v1/completionAsync", json=body(), headers=AUTH
            )
            operation = submitted.json()
            assert operation["done"] is False and operation["description"]
            url = f"/yandexgpt/operations/{operation['id']}"
            done = (await http.get(url, headers=AUTH)).json()
            assert done["done"] is True and "result" not in done
            assert done["response"]["@type"].endswith("CompletionResponse")
            assert done["response"]["usage"]["completionTokens"] == "8"
            clock.advance(3 * 86_400 + 1)
            assert (await http.get(url, headers=AUTH)).status_code == 404


async def test_the_concurrency_quota_is_a_429_with_grpc_8() -> None:
    config = SandboxConfig.demo()
    config.yandexgpt = YandexGPTConfig(
        api_keys={DEMO_YANDEXGPT_KEY: FOLDER}, concurrent_generations=2
    )
    async with create_sandbox_app(config) as sandbox:
        sandbox.faults.add(FaultSpec(platform="yandexgpt", kind="latency", latency_ms=300, count=2))
        http = httpx.AsyncClient(transport=httpx.ASGITransport(sandbox), base_url="http://s")
        async with http:
            slow = [asyncio.create_task(http.post(URL, json=body(), headers=AUTH)) for _ in "ab"]
            while sandbox.yandexgpt.generating("yandexgpt-lite") < 2:  # noqa: ASYNC110 - polls the emulator's state
                await asyncio.sleep(0.005)
            third = await http.post(URL, json=body(), headers=AUTH)
            first, second = await asyncio.gather(*slow)
    assert (first.status_code, second.status_code) == (200, 200)
    error = third.json()["error"]
    assert (third.status_code, error["grpcCode"]) == (429, 8)
    assert "quota limit exceed: allowed 2 requests" in error["message"]


async def test_tokenize(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/yandexgpt/foundationModels/v1/tokenize",
        json={"modelUri": f"gpt://{FOLDER}/yandexgpt-lite/latest", "text": "Где заказ"},
        headers=AUTH,
    )
    assert [t["text"] for t in response.json()["tokens"]] == ["Где", "заказ"]
