"""Webhook delivery (platforms/telegram.md §1.4): bytes and secret header on the wire, retry
schedule, per-chat FIFO, parallel chats, max_connections, expiry, reply-to-webhook."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from easyflow.sandbox import ManualClock, Sandbox
from easyflow.webhooks.schemes import SecretTokenHeader
from support.sandbox_client import CHAT, TOKEN, SandboxFactory, bot_call, client_for
from support.webhook_receiver import ReceivedRequest, WebhookReceiver

HOOK = "http://testserver/telegram/hook"
OTHER_CHAT = 5550002


async def hooked(make_sandbox: SandboxFactory, receiver: Any, **settings: Any) -> Sandbox:
    """A sandbox delivering into `receiver` (an ASGI app or a transport), webhook set."""
    transport = (
        receiver
        if isinstance(receiver, httpx.AsyncBaseTransport)
        else (httpx.ASGITransport(receiver))
    )
    sandbox = make_sandbox(transport, **settings)
    async with client_for(sandbox) as client:
        response = await bot_call(client, "setWebhook", url=HOOK, secret_token="s3cr3t")
        assert response.is_success, response.text
    return sandbox


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(1):
        while not condition():  # noqa: ASYNC110 - polling state the receiver mutates
            await asyncio.sleep(0.001)


def chat_of(request: ReceivedRequest) -> int:
    return request.json()["message"]["chat"]["id"]


async def test_the_update_arrives_as_json_with_the_secret_header_verbatim(
    make_sandbox: SandboxFactory,
) -> None:
    receiver = WebhookReceiver()
    sandbox = await hooked(make_sandbox, receiver)
    update = await sandbox.telegram.customer_writes(TOKEN, CHAT, "Где мой заказ?")
    await sandbox.wait_idle(1)
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/telegram/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-telegram-bot-api-secret-token"] == "s3cr3t"
    assert request.body == json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
    SecretTokenHeader("X-Telegram-Bot-Api-Secret-Token").verify(
        ["s3cr3t"], request.headers, request.body
    )
    [attempt] = sandbox.telegram.deliveries(TOKEN)
    assert (attempt.update_id, attempt.status_code, attempt.attempt) == (
        update["update_id"],
        200,
        1,
    )
    assert sandbox.telegram.pending_updates(TOKEN) == []


async def test_no_secret_means_no_header(make_sandbox: SandboxFactory) -> None:
    receiver = WebhookReceiver()
    sandbox = make_sandbox(httpx.ASGITransport(receiver))
    async with client_for(sandbox) as client:
        await bot_call(client, "setWebhook", url=HOOK)
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    await sandbox.wait_idle(1)
    assert "x-telegram-bot-api-secret-token" not in receiver.requests[0].headers


async def test_failed_deliveries_are_retried_until_a_2xx(
    make_sandbox: SandboxFactory, clock: ManualClock
) -> None:
    receiver = WebhookReceiver([500, 500, 200])
    sandbox = await hooked(make_sandbox, receiver)
    first = await sandbox.telegram.customer_writes(TOKEN, CHAT, "one")
    second = await sandbox.telegram.customer_writes(TOKEN, CHAT, "two")
    await sandbox.wait_idle(1)
    ids = [r.json()["update_id"] for r in receiver.requests]
    assert ids == [first["update_id"]] * 3 + [second["update_id"]]
    assert len({r.body for r in receiver.requests[:3]}) == 1
    attempts = [(a.attempt, a.status_code, a.retry_in) for a in sandbox.telegram.deliveries(TOKEN)]
    assert attempts == [(1, 500, 0.0), (2, 500, 2.0), (3, 200, None), (1, 200, None)]
    info = sandbox.telegram.webhook_info(TOKEN)
    assert info["pending_update_count"] == 0
    assert info["last_error_message"] == (
        "Wrong response from the webhook: 500 Internal Server Error"
    )
    assert info["last_error_date"] == int(clock())


async def test_the_backoff_doubles_up_to_a_random_cap(make_sandbox: SandboxFactory) -> None:
    receiver = WebhookReceiver([500] * 8)
    sandbox = await hooked(make_sandbox, receiver, retry_delay_scale=0.0001)
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    await sandbox.wait_idle(1)
    delays = [a.retry_in for a in sandbox.telegram.deliveries(TOKEN)]
    cap = delays[7]
    assert cap is not None and 60 <= cap <= 120
    assert delays == [0, 2, 4, 8, 16, 32, min(64, cap), cap, None]


async def test_retry_after_is_honoured_and_clamped(make_sandbox: SandboxFactory) -> None:
    receiver = WebhookReceiver([(503, {"Retry-After": "5"}), (429, {"Retry-After": "86400"})])
    sandbox = await hooked(make_sandbox, receiver, retry_delay_scale=0.00001)
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    await sandbox.wait_idle(1)
    assert [a.retry_in for a in sandbox.telegram.deliveries(TOKEN)] == [5.0, 3600.0, None]


async def test_connection_errors_are_recorded_and_retried(make_sandbox: SandboxFactory) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200)

    sandbox = await hooked(make_sandbox, httpx.MockTransport(handler))
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    await sandbox.wait_idle(1)
    first, second = sandbox.telegram.deliveries(TOKEN)
    assert (first.status_code, second.status_code) == (None, 200)
    assert first.error is not None and "ConnectError" in first.error


async def test_a_failing_chat_blocks_only_itself(make_sandbox: SandboxFactory) -> None:
    def answer(request: ReceivedRequest) -> int:
        # Chat CHAT fails until the other chat got through: if chats were served one after
        # another instead of in parallel, this would never settle.
        other_seen = any(chat_of(r) == OTHER_CHAT for r in receiver.requests)
        return 200 if chat_of(request) == OTHER_CHAT or other_seen else 500

    receiver = WebhookReceiver(answer=answer)
    sandbox = await hooked(make_sandbox, receiver)
    telegram = sandbox.telegram
    await telegram.customer_writes(TOKEN, CHAT, "a1")
    await telegram.customer_writes(TOKEN, CHAT, "a2")
    await telegram.customer_writes(TOKEN, OTHER_CHAT, "b1")
    await sandbox.wait_idle(1)
    texts = [r.json()["message"]["text"] for r in receiver.requests]
    of_a = [t for t in texts if t.startswith("a")]
    assert of_a[-2:] == ["a1", "a2"] and set(of_a[:-1]) == {"a1"}
    assert texts.index("b1") < texts.index("a2")


async def test_max_connections_bounds_parallel_deliveries(make_sandbox: SandboxFactory) -> None:
    in_flight, peak = 0, 0

    async def slow_receiver(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sandbox = make_sandbox(httpx.ASGITransport(slow_receiver))
    async with client_for(sandbox) as client:
        await bot_call(client, "setWebhook", url=HOOK, max_connections=2)
    for chat in range(1, 7):
        await sandbox.telegram.customer_writes(TOKEN, chat, "hi")
    await sandbox.wait_idle(1)
    assert peak == 2
    assert len(sandbox.telegram.deliveries(TOKEN)) == 6


async def test_updates_expire_after_24_hours(
    make_sandbox: SandboxFactory, clock: ManualClock
) -> None:
    receiver = WebhookReceiver(default=500)
    sandbox = await hooked(make_sandbox, receiver, retry_delay_scale=0.0001)
    update = await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    await until(lambda: len(receiver.requests) >= 3)
    clock.advance(24 * 3600)
    await sandbox.wait_idle(1)
    last = sandbox.telegram.deliveries(TOKEN)[-1]
    assert (last.update_id, last.error, last.status_code) == (update["update_id"], "expired", None)
    assert sandbox.telegram.pending_updates(TOKEN) == []


async def test_without_a_webhook_updates_wait_for_get_updates(make_sandbox: SandboxFactory) -> None:
    receiver = WebhookReceiver(default=500)
    sandbox = await hooked(make_sandbox, receiver)
    update = await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    await until(lambda: bool(receiver.requests))
    async with client_for(sandbox) as client:
        await bot_call(client, "deleteWebhook")
        await sandbox.wait_idle(1)
        polled = (await bot_call(client, "getUpdates")).json()["result"]
    assert polled == [update]


async def test_allowed_updates_apply_to_webhooks(make_sandbox: SandboxFactory) -> None:
    receiver = WebhookReceiver()
    sandbox = make_sandbox(httpx.ASGITransport(receiver))
    async with client_for(sandbox) as client:
        await bot_call(client, "setWebhook", url=HOOK, allowed_updates=["edited_message"])
    update = await sandbox.telegram.customer_writes(TOKEN, CHAT, "not delivered")
    edit = await sandbox.telegram.customer_edits(
        TOKEN, CHAT, update["message"]["message_id"], "edited"
    )
    await sandbox.wait_idle(1)
    assert receiver.bodies() == [edit]


@pytest.mark.parametrize("ignored", [False, True])
async def test_a_webhook_reply_is_executed_as_a_method(
    make_sandbox: SandboxFactory, ignored: bool
) -> None:
    method = "getMe" if ignored else "sendMessage"
    reply = {"method": method, "chat_id": CHAT, "text": "pong"}
    receiver = WebhookReceiver(
        default=0,
        answer=lambda _: (200, {"content-type": "application/json"}, json.dumps(reply).encode()),
    )
    sandbox = await hooked(make_sandbox, receiver)
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "ping")
    await sandbox.wait_idle(1)
    assert [m.text for m in sandbox.telegram.sent(TOKEN)] == ([] if ignored else ["pong"])
