"""The WhatsApp emulator on its own: Graph auth and errors, the 24-hour window, throughput,
Meta's GET verification and signed, escaped, retried notifications."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest

from easyflow.platforms.whatsapp import SIGNATURE
from easyflow.sandbox.base import ControlError, ManualClock
from easyflow.sandbox.server import Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.whatsapp import DEMO_NUMBER, WhatsAppConfig

PHONE, TOKEN = DEMO_NUMBER.phone_number_id, DEMO_NUMBER.access_token
URL = "http://127.0.0.1:9/hook"
CUSTOMER = "79990001122"


class Hook:
    """The hub's side, scripted: answers the challenge, fails the first `fail` POSTs."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.posts: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, text=request.url.params["hub.challenge"])
        self.posts.append(request)
        if self.fail:
            self.fail -= 1
            return httpx.Response(500)
        return httpx.Response(200, json={"status": "ok"})


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def hook() -> Hook:
    return Hook()


@pytest.fixture
async def sandbox(clock: ManualClock, hook: Hook) -> AsyncIterator[Sandbox]:
    config = SandboxConfig(
        whatsapp=WhatsAppConfig(numbers=[DEMO_NUMBER], retry_delay_scale=0.0, messages_per_second=3)
    )
    async with create_sandbox_app(
        config, webhook_transport=httpx.MockTransport(hook), clock=clock
    ) as s:
        await s.whatsapp.configure_webhook(PHONE, URL, "verify-me")
        yield s


async def _send(sandbox: Sandbox, body: dict, token: str = TOKEN) -> httpx.Response:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sandbox.app), base_url="http://sandbox"
    ) as client:
        return await client.post(
            f"/whatsapp/v23.0/{PHONE}/messages",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )


def _text(to: str = CUSTOMER, body: str = "hello") -> dict:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}}


def _statuses(hook: Hook) -> list[tuple[str, str]]:
    found = []
    for request in hook.posts:
        value = json.loads(request.content)["entry"][0]["changes"][0]["value"]
        found += [
            (s["status"], str(s.get("errors", [{}])[0].get("code", "")))
            for s in value.get("statuses", [])
        ]
    return found


async def test_a_bad_token_is_190_and_any_graph_version_routes(sandbox: Sandbox) -> None:
    response = await _send(sandbox, _text(), token="EAAwrong")
    assert response.status_code == 401 and response.json()["error"]["code"] == 190
    sandbox.whatsapp.customer_writes(PHONE, CUSTOMER, "hi")
    assert (await _send(sandbox, _text())).json()["messages"][0]["message_status"] == "accepted"


async def test_outside_the_window_free_text_is_accepted_then_fails_131047(
    sandbox: Sandbox, clock: ManualClock, hook: Hook
) -> None:
    sandbox.whatsapp.customer_writes(PHONE, CUSTOMER, "hi")
    await sandbox.wait_idle()
    clock.advance(25 * 3600)
    assert (await _send(sandbox, _text())).status_code == 200
    template = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en"}},
    }
    assert (await _send(sandbox, template)).status_code == 200
    await sandbox.wait_idle()
    assert _statuses(hook) == [("failed", "131047"), ("sent", ""), ("delivered", "")]


async def test_a_window_closed_by_the_control_api_fails_the_next_free_text_later(
    sandbox: Sandbox, hook: Hook
) -> None:
    sandbox.whatsapp.customer_writes(PHONE, CUSTOMER, "hi")
    await sandbox.wait_idle()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sandbox.app), base_url="http://sandbox"
    ) as control:
        closed = await control.post(
            f"/_sandbox/whatsapp/numbers/{PHONE}/customers/{CUSTOMER}/close-window"
        )
    assert closed.status_code == 200, closed.text
    assert (await _send(sandbox, _text())).status_code == 200  # accepted ...
    await sandbox.wait_idle()
    assert _statuses(hook) == [("failed", "131047")]  # ... then failed
    sandbox.whatsapp.customer_writes(PHONE, CUSTOMER, "hi again")  # opens it again
    await _send(sandbox, _text())
    await sandbox.wait_idle()
    assert _statuses(hook)[1:] == [("sent", ""), ("delivered", "")]


async def test_throughput_over_the_limit_is_130429(sandbox: Sandbox) -> None:
    sandbox.whatsapp.customer_writes(PHONE, CUSTOMER, "hi")
    codes = [(await _send(sandbox, _text())).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 400]
    assert (await _send(sandbox, _text())).json()["error"]["code"] == 130429


async def test_notifications_are_escaped_signed_and_retried_in_order(
    sandbox: Sandbox, hook: Hook
) -> None:
    hook.fail = 2
    sandbox.whatsapp.customer_writes(PHONE, CUSTOMER, "Привет / 1")
    sandbox.whatsapp.customer_writes(PHONE, CUSTOMER, "second")
    await sandbox.wait_idle()
    bodies = [r.content for r in hook.posts]
    assert len(bodies) == 4 and bodies[0] == bodies[1] == bodies[2]  # the same bytes again
    assert b"\\u041f" in bodies[0] and b"\\/ 1" in bodies[0]  # as Meta serializes
    for request in hook.posts:
        assert (
            request.headers["x-hub-signature-256"]
            == SIGNATURE.sign(DEMO_NUMBER.app_secret, request.content)["X-Hub-Signature-256"]
        )
    attempts = sandbox.whatsapp.deliveries(PHONE)
    assert [(a["attempt"], a["retry_in"]) for a in attempts[:3]] == [(1, 1.0), (2, 2.0), (3, None)]
    texts = [
        json.loads(b)["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"]
        for b in bodies[2:]
    ]
    assert texts == ["Привет / 1", "second"]


async def test_the_dashboard_refuses_a_url_that_does_not_echo_the_challenge(
    sandbox: Sandbox,
) -> None:
    transport = httpx.MockTransport(
        lambda r: httpx.Response(200, json={"challenge": r.url.params["hub.challenge"]})
    )
    other = create_sandbox_app(
        SandboxConfig(whatsapp=WhatsAppConfig(numbers=[DEMO_NUMBER])), webhook_transport=transport
    )
    with pytest.raises(ControlError, match="couldn't be validated"):
        await other.whatsapp.configure_webhook(PHONE, URL, "verify-me")
    await other.aclose()


async def test_statuses_can_come_twice_and_out_of_order(hook: Hook) -> None:
    config = WhatsAppConfig(
        numbers=[DEMO_NUMBER],
        retry_delay_scale=0.0,
        duplicate_statuses=True,
        read_before_delivered=True,
    )
    async with create_sandbox_app(
        SandboxConfig(whatsapp=config), webhook_transport=httpx.MockTransport(hook)
    ) as sandbox:
        await sandbox.whatsapp.configure_webhook(PHONE, URL, "verify-me")
        sandbox.whatsapp.customer_writes(PHONE, CUSTOMER, "hi")
        assert (await _send(sandbox, _text())).status_code == 200
        await sandbox.wait_idle()
    assert [s for s, _ in _statuses(hook)] == [
        "sent",
        "sent",
        "read",
        "read",
        "delivered",
        "delivered",
    ]
