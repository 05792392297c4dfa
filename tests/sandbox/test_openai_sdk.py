"""The official `openai` SDK (on httpx2) as a real client of the OpenAI emulator on a live
port: completions, streaming with usage, the Responses API, and how its retry logic meets
the two 429 flavours."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import openai
import pytest

from easyflow.sandbox import FaultSpec, Sandbox, SandboxConfig, create_sandbox_app
from support.live_server import live_server
from support.sandbox_client import KEY


@pytest.fixture
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = create_sandbox_app(SandboxConfig.demo())
    with live_server(sandbox) as url:
        yield sandbox, url


def sdk(url: str, max_retries: int = 2) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=KEY, base_url=f"{url}/openai/v1", max_retries=max_retries, timeout=5
    )


def test_a_chat_completion(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    sandbox.openai.script(["Order 42 left the kitchen 5 minutes ago."])
    completion = sdk(url).chat.completions.create(
        model="gpt-4.1-mini",
        messages=[
            {"role": "system", "content": "You are a support assistant for Hub Pizza."},
            {"role": "user", "content": "Where is order 42?"},
        ],
    )
    assert completion.choices[0].message.content == "Order 42 left the kitchen 5 minutes ago."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 11 + 5 + 10
    [recorded] = sandbox.openai.requests()
    assert completion._request_id == recorded.request_id
    assert recorded.body["messages"][0]["content"] == "You are a support assistant for Hub Pizza."


def test_a_streamed_completion_with_include_usage(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    sandbox.openai.script(["Your order is on its way."])
    stream = sdk(url).chat.completions.create(
        model="gpt-4.1-mini",
        messages=[{"role": "user", "content": "Status?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Your order is on its way."
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    assert all(c.usage is None for c in chunks[:-1])


def test_the_responses_api_plain_and_streamed(served: tuple[Sandbox, str]) -> None:
    _, url = served
    client = sdk(url)
    response = client.responses.create(model="gpt-4.1-mini", input="Where is order 42?")
    assert response.output_text == "Sandbox reply to: Where is order 42?"
    events = list(client.responses.create(model="gpt-4.1-mini", input="Hi", stream=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Sandbox reply to: Hi"
    assert events[-1].response.output_text == deltas
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_models_list(served: tuple[Sandbox, str]) -> None:
    _, url = served
    assert "gpt-4.1-mini" in [m.id for m in sdk(url).models.list()]


def test_a_wrong_key_raises_authentication_error(served: tuple[Sandbox, str]) -> None:
    _, url = served
    client = openai.OpenAI(api_key="sk-nope", base_url=f"{url}/openai/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert caught.value.code == "invalid_api_key"


def test_insufficient_quota_surfaces_as_rate_limit_error(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    # An exhausted quota stays exhausted: the SDK's retry cannot succeed.
    sandbox.faults.add(FaultSpec(platform="openai", kind="rate_limit", code="insufficient_quota"))
    with pytest.raises(openai.RateLimitError) as caught:
        sdk(url, max_retries=1).chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "q"}]
        )
    assert caught.value.code == "insufficient_quota"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["type"] == "insufficient_quota"
    attempts = sandbox.openai.requests()
    assert [(r.status, r.retry_count) for r in attempts] == [(429, "0"), (429, "1")]


def test_a_transient_429_is_retried_after_retry_after_and_succeeds(
    served: tuple[Sandbox, str], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, url = served
    sandbox.faults.add(FaultSpec(platform="openai", kind="rate_limit", retry_after=0.05, count=1))
    with caplog.at_level(logging.INFO, logger="openai._base_client"):
        completion = sdk(url).chat.completions.create(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "q"}]
        )
    assert completion.choices[0].message.content == "Sandbox reply to: q"
    # The SDK's own account of its wait: the 429's retry-after-ms (50 ms), not its 0.5 s
    # backoff; read from its log rather than a stopwatch, which a loaded machine stretches.
    waits = [r.args[0] for r in caplog.records if r.msg.startswith("Retrying request in")]
    assert waits == [pytest.approx(0.05)]
    attempts = sandbox.openai.requests()
    assert [(r.status, r.retry_count) for r in attempts] == [(429, "0"), (200, "1")]
