"""The official `anthropic` SDK as a real client of the Anthropic emulator on a live port:
messages, streaming, tool use, and its error classes and retries against the emulator's
envelope (401, 404, 400, 429 with retry-after, 529 overloaded, an error mid-stream)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from anthropic._constants import ANTHROPIC_API_VERSION

from easyflow.sandbox import FaultSpec, Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.anthropic import DEMO_ANTHROPIC_KEY
from support.live_server import live_server

MODEL = "claude-sonnet-4-6"
ASK = [{"role": "user", "content": "Where is order 42?"}]


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = create_sandbox_app(SandboxConfig.demo())
    with live_server(sandbox) as url:
        yield sandbox, url


def sdk(url: str, key: str = DEMO_ANTHROPIC_KEY, max_retries: int = 0) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=key, base_url=f"{url}/anthropic", max_retries=max_retries, timeout=5
    )


def test_a_message(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    sandbox.anthropic.script(["Order 42 left the kitchen five minutes ago."])
    message = sdk(url).messages.create(
        model=MODEL, max_tokens=512, system="You are a support assistant.", messages=ASK
    )
    assert message.content[0].type == "text"
    assert message.content[0].text == "Order 42 left the kitchen five minutes ago."
    assert (message.role, message.stop_reason, message.model) == ("assistant", "end_turn", MODEL)
    assert message.usage.output_tokens == 11
    assert message.usage.input_tokens == 7 + 5  # system and question, ceil(chars / 4)
    [recorded] = sandbox.anthropic.requests("/v1/messages")
    assert message._request_id == recorded.request_id
    assert (recorded.api_key, recorded.version) == (DEMO_ANTHROPIC_KEY, ANTHROPIC_API_VERSION)
    assert recorded.body["system"] == "You are a support assistant."


def test_a_streamed_message(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    sandbox.anthropic.script(["Your order is on its way."])
    with sdk(url).messages.stream(model=MODEL, max_tokens=512, messages=ASK) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Your order is on its way."
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7  # cumulative, not summed per delta


def test_tool_use_round_trip(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    client = sdk(url)
    tools = [
        {
            "name": "lookup_order",
            "description": "Order status",
            "input_schema": {
                "type": "object",
                "properties": {"order_number": {"type": "string"}},
                "required": ["order_number"],
            },
        }
    ]
    sandbox.anthropic.script_tool_use("lookup_order", order_number="42")
    sandbox.anthropic.script(["Order 42 is shipped."])
    first = client.messages.create(model=MODEL, max_tokens=256, messages=ASK, tools=tools)
    assert first.stop_reason == "tool_use"
    [use] = first.content
    assert use.type == "tool_use" and use.name == "lookup_order"
    assert use.input == {"order_number": "42"}
    messages = [
        *ASK,
        {"role": "assistant", "content": first.content},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "shipped"}],
        },
    ]
    second = client.messages.create(model=MODEL, max_tokens=256, messages=messages, tools=tools)
    assert second.content[0].text == "Order 42 is shipped."
    # A tool_result answering nothing is the API's 400.
    wrong = [
        *messages[:2],
        {"role": "user", "content": [{**messages[2]["content"][0], "tool_use_id": "toolu_nope"}]},
    ]
    with pytest.raises(anthropic.BadRequestError, match="tool_use_id"):
        client.messages.create(model=MODEL, max_tokens=256, messages=wrong, tools=tools)


def test_error_classes(served: tuple[Sandbox, str]) -> None:
    _, url = served
    with pytest.raises(anthropic.AuthenticationError) as unauthorised:
        sdk(url, key="sk-ant-unknown").messages.create(model=MODEL, max_tokens=9, messages=ASK)
    assert unauthorised.value.body["error"]["type"] == "authentication_error"
    assert unauthorised.value.request_id is not None
    with pytest.raises(anthropic.NotFoundError):
        sdk(url).messages.create(model="claude-nonexistent", max_tokens=9, messages=ASK)
    system_turn = [{"role": "system", "content": "no"}, *ASK]
    with pytest.raises(anthropic.BadRequestError, match="top-level `system`"):
        sdk(url).messages.create(model=MODEL, max_tokens=9, messages=system_turn)


def test_overloaded_and_rate_limited(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    sandbox.faults.add(FaultSpec(platform="anthropic", kind="http_error", status=529, count=1))
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        sdk(url).messages.create(model=MODEL, max_tokens=9, messages=ASK)
    assert overloaded.value.status_code == 529
    sandbox.faults.add(FaultSpec(platform="anthropic", kind="rate_limit", retry_after=7, count=1))
    with pytest.raises(anthropic.RateLimitError) as limited:
        sdk(url).messages.create(model=MODEL, max_tokens=9, messages=ASK)
    assert limited.value.response.headers["retry-after"] == "7"
    # The SDK's own retry gets past a single overload.
    sandbox.faults.add(FaultSpec(platform="anthropic", kind="http_error", status=529, count=1))
    ok = sdk(url, max_retries=2).messages.create(model=MODEL, max_tokens=99, messages=ASK)
    assert ok.content[0].text == "Sandbox reply to: Where is order 42?"


def test_an_error_event_after_the_stream_started(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    sandbox.anthropic.script(["Your order is on its way."])
    sandbox.faults.add(
        FaultSpec(platform="anthropic", kind="http_error", status=529, code="mid_stream", count=1)
    )
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        sdk(url).messages.stream(model=MODEL, max_tokens=512, messages=ASK) as stream,
    ):
        "".join(stream.text_stream)
