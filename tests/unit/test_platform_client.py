"""PlatformClient: auth on the wire, retries, Retry-After, rate-limit spacing, metrics."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest

from easyflow.domain.errors import RateLimitedError, RejectedError, RetryableError
from easyflow.domain.tenancy import Capability
from easyflow.http import (
    Auth,
    AuthStyle,
    InMemoryRateLimiter,
    PlatformClient,
    PlatformSpec,
    RateLimit,
    RetryPolicy,
)
from easyflow.http.client import _parsed_url
from easyflow.observability.metrics import Metrics
from easyflow.platforms import openai, telegram

FAST = RetryPolicy(attempts=4, initial_backoff=0.01, max_backoff=0.02, max_retry_after=5)
TOKEN = "123456:" + "A" * 35


def _client(spec, classify, handler, credentials, limiter=None, metrics=None, retry=FAST):
    return PlatformClient(
        spec,
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        classify=classify,
        credentials=credentials,
        limiter=limiter or InMemoryRateLimiter(),
        metrics=metrics or Metrics(),
        base_url="http://platform.test",
        retry=retry,
    )


def _tg(status: int, body: dict) -> httpx.Response:
    return httpx.Response(status, json=body)


async def test_token_goes_in_the_path_and_result_is_unwrapped() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _tg(200, {"ok": True, "result": {"id": 1, "username": "b"}})

    client = _client(telegram.SPEC, telegram.classify, handler, {"token": TOKEN})
    assert await client.call("getMe") == {"id": 1, "username": "b"}
    assert seen[0].url.path == f"/bot{TOKEN}/getMe"


async def test_a_url_carrying_the_token_is_not_kept_in_the_parse_cache() -> None:
    """Parsed URLs are cached per process; one with the credential in its path would outlive
    a rotated token, so it is parsed anew each time (header-auth URLs are cached)."""
    _parsed_url.cache_clear()
    reply = {"ok": True, "result": True}
    telegram_client = _client(
        telegram.SPEC, telegram.classify, lambda r: _tg(200, reply), {"token": TOKEN}
    )
    await telegram_client.call("sendMessage", json={"chat_id": 1, "text": "hi"})
    assert _parsed_url.cache_info().currsize == 0

    openai_client = _client(
        openai.SPEC, openai.classify, lambda r: httpx.Response(200, json={}), {"api_key": "sk"}
    )
    await openai_client.call("chat/completions", json={"model": "m"})
    await openai_client.call("chat/completions", json={"model": "m"})
    assert _parsed_url.cache_info().currsize == 1 and _parsed_url.cache_info().hits == 1


async def test_bearer_header_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "x"})

    client = _client(openai.SPEC, openai.classify, handler, {"api_key": "sk-test"})
    await client.call("chat/completions", json={"model": "m"})
    assert seen[0].headers["authorization"] == "Bearer sk-test"
    assert seen[0].url.path == "/chat/completions"
    assert json.loads(seen[0].content) == {"model": "m"}


async def test_server_errors_are_retried_then_succeed_and_counted() -> None:
    answers = iter(
        [_tg(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})] * 2
        + [_tg(200, {"ok": True, "result": True})]
    )
    metrics = Metrics()
    client = _client(
        telegram.SPEC, telegram.classify, lambda r: next(answers), {"token": TOKEN}, metrics=metrics
    )
    assert await client.call("deleteWebhook") is True
    calls = metrics.registry.get_sample_value
    labels = {"platform": "telegram", "method": "deleteWebhook"}
    assert calls("integration_api_calls_total", {**labels, "status": "RetryableError"}) == 2
    assert calls("integration_api_calls_total", {**labels, "status": "ok"}) == 1
    assert calls("integration_api_retries_total", {**labels, "reason": "retryable"}) == 2


async def test_rejections_are_not_retried() -> None:
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        return _tg(
            400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        )

    client = _client(telegram.SPEC, telegram.classify, handler, {"token": TOKEN})
    with pytest.raises(RejectedError, match="chat not found"):
        await client.call("sendMessage", json={"chat_id": 1, "text": "x"})
    assert count == 1


async def test_retry_after_is_honoured_before_the_next_attempt() -> None:
    stamps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            return httpx.Response(
                429,
                headers={"retry-after-ms": "300"},
                json={"error": {"message": "slow down", "code": "rate_limit_exceeded"}},
            )
        return httpx.Response(200, json={"ok": 1})

    client = _client(openai.SPEC, openai.classify, handler, {"api_key": "sk-test"})
    assert await client.call("chat/completions", json={}) == {"ok": 1}
    assert stamps[1] - stamps[0] >= 0.29


async def test_a_wait_longer_than_the_policy_is_left_to_the_caller() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _tg(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 60",
                "parameters": {"retry_after": 60},
            },
        )

    client = _client(telegram.SPEC, telegram.classify, handler, {"token": TOKEN})
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as caught:
        await client.call("sendMessage", json={}, scopes={"chat": "1"})
    assert caught.value.retry_after == 60
    assert time.monotonic() - started < 1


async def test_transport_errors_become_retryable_without_the_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}")

    client = _client(
        telegram.SPEC,
        telegram.classify,
        handler,
        {"token": TOKEN},
        retry=RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.01),
    )
    with pytest.raises(RetryableError) as caught:
        await client.call("getMe")
    assert TOKEN not in str(caught.value)


async def test_calls_to_one_chat_are_spaced_by_its_limit() -> None:
    spec = PlatformSpec(
        "test",
        (Capability.MESSENGER,),
        "http://x",
        Auth(AuthStyle.NONE),
        rate_limits=(RateLimit("chat", limit=10, period=1.0),),
    )
    stamps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(time.monotonic())
        return httpx.Response(200)

    client = _client(spec, lambda r: None, handler, {})
    for _ in range(4):
        await client.call("send", scopes={"chat": "7"})
    await client.call("send", scopes={"chat": "8"})  # another chat is not held back
    gaps = [b - a for a, b in itertools.pairwise(stamps[:4])]
    assert all(gap >= 0.09 for gap in gaps), gaps
    assert stamps[4] - stamps[3] < 0.05


async def test_the_in_memory_limiter_forgets_buckets_whose_slot_has_passed() -> None:
    now = [0.0]
    limiter = InMemoryRateLimiter(clock=lambda: now[0], prune_above=1000)
    for chat in range(100_000):  # a million chats, scaled: each writes once, a second apart
        now[0] = float(chat)
        await limiter.reserve({"key": 0.001, f"chat:{chat}": 1.0})
    assert len(limiter) <= 1001  # bounded by the pruning threshold, not by the chats seen
    # A bucket still in its interval is kept: the limit holds across a prune.
    assert await limiter.reserve({"chat:99999": 1.0}) == 1.0
