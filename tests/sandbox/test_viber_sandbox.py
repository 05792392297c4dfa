"""The Viber emulator on its own: statuses inside HTTP 200, the subscription state machine,
set_webhook's probe, signed callbacks, welcome messages and rate control."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from easyflow.platforms.viber import SIGNATURE
from easyflow.sandbox.base import ManualClock
from easyflow.sandbox.server import Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.viber import DEMO_BOT, ViberConfig

TOKEN = DEMO_BOT.auth_token
URL = "http://127.0.0.1:9/hook"
USER = "01234567890A="


class Hook:
    def __init__(self) -> None:
        self.status = 200
        self.welcome: dict | None = None
        self.posts: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.posts.append(request)
        if json.loads(request.content)["event"] == "conversation_started" and self.welcome:
            return httpx.Response(200, json=self.welcome)
        return httpx.Response(self.status)


@pytest.fixture
def hook() -> Hook:
    return Hook()


@pytest.fixture
async def sandbox(hook: Hook) -> AsyncIterator[Sandbox]:
    config = SandboxConfig(
        viber=ViberConfig(bots=[DEMO_BOT], retry_delay_scale=0.0, rate_limit_per_second=3)
    )
    async with create_sandbox_app(
        config, webhook_transport=httpx.MockTransport(hook), clock=ManualClock()
    ) as s:
        yield s


async def _call(sandbox: Sandbox, method: str, body: dict, token: str = TOKEN) -> dict:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sandbox.app), base_url="http://sandbox"
    ) as client:
        response = await client.post(
            f"/viber/pa/{method}", json=body, headers={"X-Viber-Auth-Token": token}
        )
        assert response.status_code == 200  # always: the outcome is in `status`
        return response.json()


def _message(text: str = "hello") -> dict:
    return {"receiver": USER, "sender": {"name": "Shop"}, "type": "text", "text": text}


async def test_set_webhook_probes_the_url_and_fails_unless_it_answers_200(
    sandbox: Sandbox, hook: Hook
) -> None:
    hook.status = 500
    assert (await _call(sandbox, "set_webhook", {"url": URL}))["status"] == 1
    hook.status = 200
    answer = await _call(sandbox, "set_webhook", {"url": URL, "event_types": ["delivered"]})
    assert answer["status"] == 0 and set(answer["event_types"]) >= {
        "message",
        "subscribed",
        "unsubscribed",
        "delivered",
    }
    probe = hook.posts[-1]
    assert json.loads(probe.content)["event"] == "webhook"
    assert (
        probe.headers["x-viber-content-signature"]
        == SIGNATURE.sign(TOKEN, probe.content)["X-Viber-Content-Signature"]
    )
    assert (await _call(sandbox, "get_account_info", {}, token="nope"))["status"] == 2


async def test_only_subscribed_customers_can_be_messaged(sandbox: Sandbox, hook: Hook) -> None:
    assert (await _call(sandbox, "send_message", _message()))["status"] == 10  # no webhook yet
    await _call(sandbox, "set_webhook", {"url": URL})
    assert (await _call(sandbox, "send_message", _message()))["status"] == 5  # unknown
    hook.welcome = {"sender": {"name": "Shop"}, "type": "text", "text": "Welcome!"}
    sandbox.viber.customer_opens(TOKEN, USER)
    await sandbox.wait_idle()
    assert [m.text for m in sandbox.viber.sent(TOKEN, USER) if m.welcome] == ["Welcome!"]
    assert (await _call(sandbox, "send_message", _message()))["status"] == 6  # not subscribed
    sandbox.viber.customer_writes(TOKEN, USER, "hi")
    sent = await _call(sandbox, "send_message", _message())
    assert sent["status"] == 0 and isinstance(sent["message_token"], int)
    sandbox.viber.customer_unsubscribes(TOKEN, USER)
    assert (await _call(sandbox, "send_message", _message()))["status"] == 6
    await sandbox.wait_idle()
    events = [json.loads(r.content) for r in hook.posts]
    receipts = [e["event"] for e in events if e.get("message_token") == sent["message_token"]]
    assert receipts == ["delivered", "seen"]
    assert all(isinstance(e["timestamp"], int) and e["timestamp"] > 10**12 for e in events)  # ms


async def test_bad_messages_and_rate_control(sandbox: Sandbox) -> None:
    await _call(sandbox, "set_webhook", {"url": URL})
    sandbox.viber.customer_writes(TOKEN, USER, "hi")
    assert (await _call(sandbox, "send_message", {**_message(), "sender": {}}))["status"] == 4
    lower = {**_message(), "keyboard": {"type": "keyboard", "buttons": []}}
    assert (await _call(sandbox, "send_message", lower))["status"] == 3  # keys are PascalCase
    assert (await _call(sandbox, "send_message", _message("x" * 7001)))["status"] == 3
    statuses = [(await _call(sandbox, "send_message", _message()))["status"] for _ in range(4)]
    assert statuses == [0, 0, 0, 12]
