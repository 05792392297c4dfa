"""The OpenAI emulator's chat completions beyond text, through the official `openai` SDK:
tool calls and tool results, `response_format` JSON (object and schema), `n`, unknown models
(404 model_not_found) and what reasoning models refuse."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from easyflow.sandbox import Sandbox, SandboxConfig, create_sandbox_app
from support.live_server import live_server
from support.sandbox_client import KEY

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Order status",
            "parameters": {
                "type": "object",
                "properties": {"order_number": {"type": "string"}},
                "required": ["order_number"],
            },
        },
    }
]
ASK: list[Any] = [{"role": "user", "content": "Where is order 42?"}]


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, openai.OpenAI]]:
    sandbox = create_sandbox_app(SandboxConfig.demo())
    with live_server(sandbox) as url:
        yield sandbox, openai.OpenAI(api_key=KEY, base_url=f"{url}/openai/v1", max_retries=0)


def test_a_tool_call_and_its_result(served: tuple[Sandbox, openai.OpenAI]) -> None:
    sandbox, client = served
    sandbox.openai.script_tool_call("lookup_order", order_number="42")
    sandbox.openai.script(["Order 42 is shipped."])
    first = client.chat.completions.create(model="gpt-4.1-mini", messages=ASK, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "lookup_order"
    assert json.loads(call.function.arguments) == {"order_number": "42"}
    messages = [
        *ASK,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "shipped"},
    ]
    second = client.chat.completions.create(model="gpt-4.1-mini", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "Order 42 is shipped."


def test_a_scripted_tool_call_waits_for_a_request_offering_the_tool(
    served: tuple[Sandbox, openai.OpenAI],
) -> None:
    sandbox, client = served
    sandbox.openai.script_tool_call("lookup_order", order_number="42")
    plain = client.chat.completions.create(model="gpt-4.1-mini", messages=ASK)
    assert plain.choices[0].message.content == "Sandbox reply to: Where is order 42?"
    offered = client.chat.completions.create(model="gpt-4.1-mini", messages=ASK, tools=TOOLS)
    assert offered.choices[0].finish_reason == "tool_calls"


def test_tool_messages_must_answer_tool_calls(served: tuple[Sandbox, openai.OpenAI]) -> None:
    _, client = served
    stray = [*ASK, {"role": "tool", "tool_call_id": "call_x", "content": "?"}]
    with pytest.raises(openai.BadRequestError, match="preceeding message with 'tool_calls'"):
        client.chat.completions.create(model="gpt-4.1-mini", messages=stray)
    unanswered = [
        *ASK,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_order", "arguments": "{}"},
                }
            ],
        },
    ]
    with pytest.raises(openai.BadRequestError, match="call_1"):
        client.chat.completions.create(model="gpt-4.1-mini", messages=unanswered)


def test_response_format_json_object_and_schema(served: tuple[Sandbox, openai.OpenAI]) -> None:
    _, client = served
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        client.chat.completions.create(
            model="gpt-4.1-mini", messages=ASK, response_format={"type": "json_object"}
        )
    ask_json: list[Any] = [{"role": "user", "content": "Answer in JSON: where is order 42?"}]
    as_object = client.chat.completions.create(
        model="gpt-4.1-mini", messages=ask_json, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(as_object.choices[0].message.content or ""), dict)
    schema = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["shipped", "unknown"]},
            "answer": {"type": "string"},
            "eta_days": {"type": ["integer", "null"]},
        },
        "required": ["status", "answer", "eta_days"],
        "additionalProperties": False,
    }
    as_schema = client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=ASK,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "order", "schema": schema, "strict": True},
        },
    )
    parsed = json.loads(as_schema.choices[0].message.content or "")
    assert parsed == {
        "status": "shipped",
        "answer": "Sandbox reply to: Where is order 42?",
        "eta_days": 0,
    }


def test_n_choices(served: tuple[Sandbox, openai.OpenAI]) -> None:
    _, client = served
    completion = client.chat.completions.create(model="gpt-4.1-mini", messages=ASK, n=3)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert completion.usage is not None and completion.usage.completion_tokens == 3 * 9
    with pytest.raises(openai.BadRequestError, match="integer above maximum value"):
        client.chat.completions.create(model="gpt-4.1-mini", messages=ASK, n=129)


def test_an_unknown_model_is_404_model_not_found(served: tuple[Sandbox, openai.OpenAI]) -> None:
    _, client = served
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4.1-mini-typo", messages=ASK)
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4.1-mini-typo")
    assert client.models.retrieve("o4-mini").id == "o4-mini"


def test_reasoning_models_refuse_temperature_and_max_tokens(
    served: tuple[Sandbox, openai.OpenAI],
) -> None:
    _, client = served
    with pytest.raises(openai.BadRequestError) as temperature:
        client.chat.completions.create(model="o3", messages=ASK, temperature=0.3)
    assert temperature.value.code == "unsupported_value"
    with pytest.raises(openai.BadRequestError) as max_tokens:
        client.chat.completions.create(model="gpt-5", messages=ASK, max_tokens=100)
    assert max_tokens.value.code == "unsupported_parameter"
    ok = client.chat.completions.create(
        model="gpt-5-mini", messages=ASK, max_completion_tokens=100, temperature=1
    )
    assert ok.choices[0].message.content
    # gpt-5-chat is not a reasoning model: it takes a temperature.
    client.chat.completions.create(model="gpt-5-chat-latest", messages=ASK, temperature=0.3)
