"""WhatsApp's 24-hour customer-service window, end to end.

The customer's message is written 25 hours in the past (the sandbox's clock is moved back
while they write, then forward again): the webhook carries that timestamp, the hub stores it
as the conversation's last inbound message, and the sandbox holds the window closed as Meta
does. The hub's answer must then go out as the integration's fallback template, or be refused
with the reason on the row and the message, with nothing sent. A 131047 answered by the
platform itself is treated the same way, and so is one it reports later in a `failed` status
webhook (the sandbox holds the window closed while the hub thinks it open): the message is
sent again as the fallback template, once. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from easyflow.platforms.whatsapp import SIGNATURE
from easyflow.platforms.whatsapp.window import REPORTED_CLOSED, WINDOW_CLOSED
from easyflow.sandbox.whatsapp import DEMO_NUMBER
from support.hub import HUB_URL, ORDERS, Hub, running_hub

CUSTOMER = "79990001122"
GREETING = "Hello! I can tell you where your order is — just send its number."
FALLBACK = {"name": "customer_reply", "language": "en"}
DAY_AND_AN_HOUR = 25 * 3600


class ShiftedClock:
    """Real time, moved by `offset` seconds: the sandbox's clock in these tests."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class OneReEngagementError(httpx.AsyncBaseTransport):
    """The hub's transport to the sandbox, answering its next send with Meta's 131047 once
    `armed` (as the Graph API may, synchronously), and passing everything else through."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.armed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.armed and request.url.path.endswith("/messages"):
            self.armed = False
            error = {
                "message": "(#131047) Re-engagement message",
                "type": "OAuthException",
                "code": 131047,
                "error_data": {
                    "messaging_product": "whatsapp",
                    "details": "Message failed to send because more than 24 hours have passed "
                    "since the customer last replied to this number.",
                },
                "fbtrace_id": "AbCdEf123456",
            }
            body = json.dumps({"error": error}).encode()
            return httpx.Response(400, content=body, request=request)
        return await self._inner.handle_async_request(request)


@pytest.fixture
async def window_hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[tuple[Hub, ShiftedClock, OneReEngagementError]]:
    clock = ShiftedClock()
    async with running_hub(
        migrated_database_url, tmp_path, encryption_key, sandbox_clock=clock
    ) as hub:
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        clients = hub.container.clients
        wire = OneReEngagementError(clients._transports["whatsapp"])
        clients._transports["whatsapp"] = wire  # a test may swap a platform's transport
        clients._clients.pop("whatsapp", None)
        yield hub, clock, wire


async def _connect(hub: Hub, settings: dict[str, Any]) -> int:
    response = await hub.http.post(
        "/api/v1/integrations",
        headers=hub.auth,
        json={
            "platform": "whatsapp",
            "credentials": hub.sandbox.whatsapp.demo_credentials()[0],
            "settings": settings,
        },
    )
    assert response.status_code == 201, response.text
    integration_id = int(response.json()["id"])
    url = f"{HUB_URL}/api/v1/messaging/webhook/whatsapp/{integration_id}"
    async with hub.container.uow() as uow:  # the verify token the seller pastes
        secret = (await uow.integrations.get(hub.tenant_id, integration_id)).webhook_secrets[0]
    await hub.sandbox.whatsapp.configure_webhook(DEMO_NUMBER.phone_number_id, url, secret)
    return integration_id


async def _wrote_a_day_ago(hub: Hub, clock: ShiftedClock) -> None:
    clock.offset = -DAY_AND_AN_HOUR
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")
    clock.offset = 0.0
    await hub.settle()


async def _reply_row(hub: Hub) -> dict[str, Any]:
    async with hub.container.engine.connect() as conn:
        outbox_id = (await conn.execute(text("SELECT max(id) FROM outbox"))).scalar_one()
        message = (
            await conn.execute(text("SELECT status, error FROM messages ORDER BY id DESC LIMIT 1"))
        ).one()
    response = await hub.http.get(f"/api/v1/outbox/{outbox_id}", headers=hub.auth)
    assert response.status_code == 200, response.text
    row: dict[str, Any] = response.json()
    row["message"] = (message.status, message.error)
    return row


def _sent(hub: Hub) -> list[Any]:
    return hub.sandbox.whatsapp.sent(DEMO_NUMBER.phone_number_id, CUSTOMER)


async def test_outside_the_window_the_answer_goes_as_the_fallback_template(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError],
) -> None:
    hub, clock, _ = window_hub
    await _connect(hub, {"fallback_template": FALLBACK})
    await _wrote_a_day_ago(hub, clock)

    [sent] = _sent(hub)
    assert sent.type == "template"
    assert sent.payload["template"] == {
        "name": "customer_reply",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": GREETING}]}],
    }
    row = await _reply_row(hub)
    assert row["status"] == "sent" and row["payload"]["text"] == GREETING


async def test_outside_the_window_without_a_fallback_the_answer_fails_with_the_reason(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError],
) -> None:
    hub, clock, _ = window_hub
    await _connect(hub, {})
    await _wrote_a_day_ago(hub, clock)

    assert _sent(hub) == []  # nothing went out, and nothing was dropped:
    row = await _reply_row(hub)
    assert (row["status"], row["last_error"]) == ("dead", WINDOW_CLOSED)
    assert [(a["outcome"], a["error"]) for a in row["history"]] == [("dead", WINDOW_CLOSED)]
    assert row["message"] == ("dead", WINDOW_CLOSED)
    listed = await hub.http.get("/api/v1/outbox?status=dead", headers=hub.auth)
    assert [r["last_error"] for r in listed.json()] == [WINDOW_CLOSED]


async def test_inside_the_window_free_text_goes_as_it_is(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError],
) -> None:
    hub, _, _ = window_hub
    await _connect(hub, {"fallback_template": FALLBACK})
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")
    await hub.settle()

    assert [(m.type, m.text) for m in _sent(hub)] == [("text", GREETING)]


@pytest.mark.parametrize("fallback", [True, False], ids=["fallback", "no-fallback"])
async def test_a_131047_answer_is_handled_like_a_closed_window(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError], fallback: bool
) -> None:
    """The hub thought the window open; WhatsApp says otherwise at once."""
    hub, _, wire = window_hub
    await _connect(hub, {"fallback_template": FALLBACK} if fallback else {})
    wire.armed = True
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")
    await hub.settle()

    row = await _reply_row(hub)
    if fallback:
        [sent] = _sent(hub)
        assert sent.type == "template" and row["status"] == "sent"
        assert sent.payload["template"]["components"][0]["parameters"][0]["text"] == GREETING
    else:
        assert _sent(hub) == []
        assert (row["status"], row["last_error"]) == ("dead", WINDOW_CLOSED)


async def test_a_malformed_fallback_setting_is_refused_when_the_integration_is_added(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError],
) -> None:
    hub, _, _ = window_hub
    response = await hub.http.post(
        "/api/v1/integrations",
        headers=hub.auth,
        json={
            "platform": "whatsapp",
            "credentials": hub.sandbox.whatsapp.demo_credentials()[0],
            "settings": {"fallback_template": {"name": "Customer Reply!", "language": "en"}},
        },
    )
    assert response.status_code == 400
    assert "fallback_template" in response.json()["detail"]
    assert await hub.count("integrations") == 1  # the Telegram bot only


async def _until(condition: Any, hub: Hub, seconds: float = 10.0) -> None:
    """Reports may overtake the recording of the send they are about and are applied again
    a moment later: wait for what the test expects, within a bound."""
    deadline = time.monotonic() + seconds
    await hub.settle()
    while not await condition():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)
        await hub.settle()


async def _reported_late(hub: Hub, expected_sends: int) -> dict[str, Any]:
    """The reply row once the sandbox got `expected_sends` messages and the row settled."""

    async def settled() -> bool:
        row = await _reply_row(hub)
        return len(_sent(hub)) >= expected_sends and row["status"] in ("sent", "dead")

    await _until(settled, hub)
    await hub.settle()
    return await _reply_row(hub)


async def test_a_131047_reported_later_sends_the_fallback_template(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError],
) -> None:
    """WhatsApp accepts the free text, then reports it failed: the template follows it."""
    hub, _, _ = window_hub
    hub.sandbox.whatsapp.config.window_seconds = -1  # WhatsApp holds every window closed
    await _connect(hub, {"fallback_template": FALLBACK})
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")

    row = await _reported_late(hub, expected_sends=2)
    text_sent, template = _sent(hub)
    assert (text_sent.type, text_sent.text, text_sent.status) == ("text", GREETING, "failed")
    assert template.type == "template"
    assert template.payload["template"] == {
        "name": "customer_reply",
        "language": {"code": "en"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": GREETING}]}],
    }
    assert row["status"] == "sent"
    history = [(a["outcome"], a["platform_message_id"]) for a in row["history"]]
    assert history == [("sent", text_sent.id), ("requeued", None), ("sent", template.id)]
    assert "131047" in row["history"][1]["error"] and "template" in row["history"][1]["error"]
    async with hub.container.engine.connect() as conn:
        message = (
            await conn.execute(
                text("SELECT status, platform_message_id FROM messages ORDER BY id DESC LIMIT 1")
            )
        ).one()
    assert message.platform_message_id == template.id and message.status != "dead"


async def test_a_131047_reported_later_without_a_fallback_leaves_the_message_dead(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError],
) -> None:
    hub, _, _ = window_hub
    hub.sandbox.whatsapp.config.window_seconds = -1
    await _connect(hub, {})
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")

    row = await _reported_late(hub, expected_sends=1)
    assert [m.type for m in _sent(hub)] == ["text"]  # nothing else went out
    assert (row["status"], row["last_error"]) == ("dead", REPORTED_CLOSED)
    assert [a["outcome"] for a in row["history"]] == ["sent", "requeued", "dead"]
    assert row["message"] == ("dead", REPORTED_CLOSED)


async def test_a_template_reported_failed_for_the_window_is_not_sent_again(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError],
) -> None:
    """Never a loop: the fallback went out once; a 131047 about it makes the message dead."""
    hub, _, _ = window_hub
    hub.sandbox.whatsapp.config.window_seconds = -1
    integration_id = await _connect(hub, {"fallback_template": FALLBACK})
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")
    await _reported_late(hub, expected_sends=2)
    template = _sent(hub)[-1]

    status = {
        "id": template.id,
        "status": "failed",
        "timestamp": str(int(time.time())),
        "recipient_id": CUSTOMER,
        "errors": [{"code": 131047, "error_data": {"details": "More than 24 hours."}}],
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "1"},
        "statuses": [status],
    }
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    body = json.dumps(document).encode()
    response = await hub.http.post(
        f"/api/v1/messaging/webhook/whatsapp/{integration_id}",
        content=body,
        headers=SIGNATURE.sign(DEMO_NUMBER.app_secret, body),
    )
    assert response.status_code == 200, response.text
    await hub.settle()

    assert len(_sent(hub)) == 2
    row = await _reply_row(hub)
    assert row["status"] == "sent"  # the row's last attempt did go out; the message did not:
    assert row["message"][0] == "dead" and "131047" in row["message"][1]
    assert [a["outcome"] for a in row["history"]] == ["sent", "requeued", "sent"]


async def test_an_operator_reply_whatsapp_fails_later_goes_out_as_the_fallback(
    window_hub: tuple[Hub, ShiftedClock, OneReEngagementError],
) -> None:
    """The customer wrote minutes ago, but WhatsApp holds the window closed (the sandbox's
    control API): the operator's reply is accepted, reported failed, and sent as the template."""
    hub, _, _ = window_hub
    await _connect(hub, {"fallback_template": FALLBACK})
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")
    await hub.settle()
    assert [m.type for m in _sent(hub)] == ["text"]  # the bot's answer, inside the window
    hub.sandbox.whatsapp.close_window(DEMO_NUMBER.phone_number_id, CUSTOMER)
    async with hub.container.engine.connect() as conn:
        conversation_id = (
            await conn.execute(text("SELECT max(id) FROM conversations"))
        ).scalar_one()
    await hub.container.operators.reply(hub.tenant_id, conversation_id, "Your parcel left today")

    row = await _reported_late(hub, expected_sends=3)
    reply, fallback = _sent(hub)[1:]
    assert (reply.type, reply.text, reply.status) == ("text", "Your parcel left today", "failed")
    assert fallback.type == "template"
    parameters = fallback.payload["template"]["components"][0]["parameters"]
    assert parameters == [{"type": "text", "text": "Your parcel left today"}]
    assert [a["outcome"] for a in row["history"]] == ["sent", "requeued", "sent"]
