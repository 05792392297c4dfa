"""Delivery you can trust, for every messenger: the outbox over the real adapters and sandboxes.

Parametrized over Telegram, WhatsApp, VK and Viber, on SQLite and PostgreSQL. A customer
writes first (the hub answers, which opens WhatsApp's 24-hour window and Viber's
subscription), then the test queues a reply in the same conversation and sends it through
the production OutboxSender while the sandbox misbehaves:

- an answer of an unexpected shape (a 200 the adapter cannot read, the sandbox's truncated
  body): the row is dead with the reason, not pending forever, and the task does not raise;
- a send that outlives the client's timeout (the sandbox's latency fault): VK repeats it with
  the same `random_id` and the sandbox keeps one message; the others record it "unconfirmed"
  (it did arrive: the sandbox finished the call after the client gave up) and send no copy;
- the platform's rate-limit answer with its hint: the retry waits at least that long;
- a failure that lasts: dead after the last attempt with "gave up after N attempts",
  replayed through the admin API, then sent.

Assertions are on the outbox rows, their attempt history and what the sandboxes recorded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from easyflow.domain.messaging import AttemptOutcome, DeliveryStatus, OutboxKind, OutboxPayload
from easyflow.platforms.vk.spec import FLOOD_WAIT
from easyflow.platforms.whatsapp.spec import PAIR_RATE_WAIT
from easyflow.sandbox.faults import FaultSpec
from easyflow.sandbox.viber import DEMO_BOT
from easyflow.sandbox.vk import DEMO_COMMUNITY
from easyflow.sandbox.whatsapp import DEMO_NUMBER
from support.hub import CHAT, HUB_URL, Hub, running_hub

PLATFORMS = ("telegram", "whatsapp", "vk", "viber")
CUSTOMERS = {"telegram": CHAT, "whatsapp": "79990001122", "vk": 5550001, "viber": "01234567890A="}
# The send operation as each sandbox names it (fault matching) and the path that ends it.
SEND = {
    "telegram": ("sendMessage", "/sendMessage"),
    "whatsapp": ("messages", "/messages"),
    "vk": ("messages.send", "/method/messages.send"),
    "viber": ("send_message", "/pa/send_message"),
}
# A 200 whose JSON is not what the send answers: the adapter or classifier cannot read it.
ODD_ANSWERS = {
    "telegram": {"ok": True, "result": [7]},  # result should be a Message object
    "whatsapp": {"messaging_product": "whatsapp", "messages": "wamid.1"},
    "vk": {"response_": 1},
    "viber": ["status", 0],
}
# The platform's own rate-limit answer carrying a wait, and the wait it asks for.
RATE_LIMITED: dict[str, tuple[int, Any, float | None]] = {
    "telegram": (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 30",
            "parameters": {"retry_after": 30},
        },
        30.0,
    ),
    "whatsapp": (
        400,
        {
            "error": {
                "message": "(#131056) Pair rate limit hit",
                "type": "OAuthException",
                "code": 131056,
                "fbtrace_id": "A1",
            }
        },
        PAIR_RATE_WAIT,
    ),
    "vk": (200, {"error": {"error_code": 9, "error_msg": "Flood control"}}, FLOOD_WAIT),
    "viber": (200, {"status": 12, "status_message": "tooManyRequests"}, None),  # no hint
}
CLIENT_TIMEOUT = 0.5  # the platforms' 30 s, scaled down: what the transport enforces
LATE = 1_200  # ms the sandbox holds a faulted send: well past the client's timeout


class Wire(httpx.AsyncBaseTransport):
    """The hub's transport to the sandbox, with what a network adds: a read timeout (the
    sandbox still finishes a call the client gave up on, as a real server does), and canned
    answers to a platform's send when a test sets them."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.answer: tuple[str, int, Any] | None = None  # path suffix, status, JSON
        self._late: set[asyncio.Task[httpx.Response]] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.answer is not None and request.url.path.endswith(self.answer[0]):
            _, status, body = self.answer
            return httpx.Response(status, content=json.dumps(body).encode(), request=request)
        call = asyncio.ensure_future(self._inner.handle_async_request(request))
        done, _ = await asyncio.wait({call}, timeout=CLIENT_TIMEOUT)
        if not done:
            self._late.add(call)
            raise httpx.ReadTimeout("timed out waiting for the answer", request=request)
        return call.result()

    async def drain(self) -> None:
        """Until the calls the client gave up on are finished at the sandbox."""
        if self._late:
            await asyncio.gather(*self._late, return_exceptions=True)
            self._late.clear()


@dataclass
class Channel:
    hub: Hub
    platform: str
    integration_id: int
    conversation_id: int
    wire: Wire

    @property
    def customer(self) -> Any:
        return CUSTOMERS[self.platform]

    def sent(self) -> list[str | None]:
        s, chat = self.hub.sandbox, self.customer
        if self.platform == "telegram":
            return [m.text for m in s.telegram.sent(self.hub.token, chat)]
        if self.platform == "whatsapp":
            return [m.text for m in s.whatsapp.sent(DEMO_NUMBER.phone_number_id, chat)]
        if self.platform == "vk":
            return [m.text for m in s.vk.sent(DEMO_COMMUNITY.group_id, chat)]
        return [m.text for m in s.viber.sent(DEMO_BOT.auth_token, chat)]

    def fault(self, kind: str, **spec: Any) -> None:
        method, _ = SEND[self.platform]
        self.hub.sandbox.faults.add(
            FaultSpec(platform=self.platform, kind=kind, method=method, **spec)  # type: ignore[arg-type]
        )

    async def queue(self, text_: str) -> int:
        """A reply in the customer's conversation, as the hub stores one (not yet sent)."""
        async with self.hub.container.uow() as uow:
            item = await uow.outbox.add(
                self.hub.tenant_id,
                self.integration_id,
                OutboxKind.MESSAGE,
                OutboxPayload(str(self.customer), text_),
                conversation_id=self.conversation_id,
            )
            await uow.commit()
        return item.id

    async def send(self, outbox_id: int) -> None:
        await self.hub.container.outbox.send_outbox(outbox_id)

    async def row(self, outbox_id: int) -> dict[str, Any]:
        response = await self.hub.http.get(f"/api/v1/outbox/{outbox_id}", headers=self.hub.auth)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def make_due(self, outbox_id: int) -> None:
        async with self.hub.container.engine.begin() as conn:
            await conn.execute(
                text("UPDATE outbox SET next_attempt_at = :now WHERE id = :id"),
                {"now": datetime.now(UTC) - timedelta(seconds=1), "id": outbox_id},
            )


async def _open_channel(hub: Hub, platform: str, wire: Wire) -> Channel:
    """Connect the platform the seller's way; the customer writes and gets the greeting."""
    c, s = hub.container, hub.sandbox
    if platform == "telegram":
        integration_id = hub.integration_id
        await s.telegram.customer_writes(hub.token, CHAT, "Hello!")
    else:
        if platform == "whatsapp":
            credentials = s.whatsapp.demo_credentials()[0]
        elif platform == "vk":
            credentials = s.vk.demo_credentials()[0]
        else:
            credentials = {"auth_token": DEMO_BOT.auth_token}
        integration = await c.integrations.add(hub.tenant_id, platform, credentials)
        integration_id = integration.id
        url = f"{HUB_URL}/api/v1/messaging/webhook/{platform}/{integration.id}"
        secret = integration.webhook_secrets[0]
        if platform == "whatsapp":
            await s.whatsapp.configure_webhook(DEMO_NUMBER.phone_number_id, url, secret)
            s.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMERS[platform], "Hello!")
        elif platform == "vk":
            await s.vk.add_server(DEMO_COMMUNITY.group_id, url, secret)
            s.vk.customer_writes(DEMO_COMMUNITY.group_id, CUSTOMERS[platform], "Hello!")
        else:
            s.viber.customer_opens(DEMO_BOT.auth_token, CUSTOMERS[platform])
            s.viber.customer_writes(DEMO_BOT.auth_token, CUSTOMERS[platform], "Hello!")
    await hub.settle()
    async with c.engine.connect() as conn:
        conversation_id = (
            await conn.execute(
                text("SELECT id FROM conversations WHERE integration_id = :i"),
                {"i": integration_id},
            )
        ).scalar_one()
    channel = Channel(hub, platform, integration_id, conversation_id, wire)
    assert len(channel.sent()) == 1  # the greeting
    return channel


@pytest.fixture
async def open_channel(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Callable[[str], Any]]:
    """A hub whose outbox gives up after two attempts, and a channel on the asked platform."""
    async with running_hub(
        migrated_database_url, tmp_path, encryption_key, outbox_max_attempts=2
    ) as hub:
        clients = hub.container.clients
        wires: list[Wire] = []

        async def open_(platform: str) -> Channel:
            # A test may swap a platform's transport (bootstrap.HttpClients says so).
            wire = Wire(clients._transports[platform])
            clients._transports[platform] = wire
            clients._clients.pop(platform, None)
            wires.append(wire)
            return await _open_channel(hub, platform, wire)

        try:
            yield open_
        finally:
            for wire in wires:
                await wire.drain()


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_an_answer_the_adapter_cannot_read_makes_the_row_dead_with_the_reason(
    open_channel: Callable[[str], Any], platform: str
) -> None:
    ch: Channel = await open_channel(platform)
    ch.wire.answer = (SEND[platform][1], 200, ODD_ANSWERS[platform])
    outbox_id = await ch.queue("Your order 1001 has shipped.")
    await ch.send(outbox_id)  # does not raise: the outcome is recorded instead
    row = await ch.row(outbox_id)
    assert row["status"] == "dead" and row["last_error"], row
    [attempt] = row["history"]
    assert (attempt["attempt"], attempt["outcome"], attempt["error"]) == (
        1,
        "dead",
        row["last_error"],
    )
    assert attempt["platform_message_id"] is None
    # The sandbox's own fault: a 200 whose JSON body is cut short.
    ch.wire.answer = None
    ch.fault("malformed", count=1)
    second = await ch.queue("And order 1002 is being assembled.")
    await ch.send(second)
    row = await ch.row(second)
    assert row["status"] == "dead" and row["last_error"], row
    assert [a["outcome"] for a in row["history"]] == ["dead"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_send_past_the_client_timeout_is_repeated_with_a_key_or_recorded_unconfirmed(
    open_channel: Callable[[str], Any], platform: str
) -> None:
    ch: Channel = await open_channel(platform)
    keys = ch.hub.container.adapters.idempotency_keys(platform)
    assert keys is (platform == "vk")  # VK's random_id; the others have none
    ch.fault("latency", latency_ms=LATE, count=1)
    outbox_id = await ch.queue("Your order 1001 has shipped.")
    await ch.send(outbox_id)
    await ch.wire.drain()  # the sandbox finished the call the client gave up on
    row = await ch.row(outbox_id)
    # It arrived exactly once either way: no second copy for the customer.
    assert ch.sent()[1:] == ["Your order 1001 has shipped."]
    if keys:
        assert row["status"] == "sent", row
        [attempt] = row["history"]
        assert attempt["outcome"] == "sent" and attempt["platform_message_id"]
        [reply] = ch.hub.sandbox.vk.sent(DEMO_COMMUNITY.group_id, ch.customer)[1:]
        assert reply.random_id == outbox_id  # the repeat carried the row's key
    else:
        assert row["status"] == "unconfirmed", row
        [attempt] = row["history"]
        assert attempt["outcome"] == "unconfirmed"
        assert "timeout" in attempt["error"] and "may or may not have arrived" in attempt["error"]
        # Not repeated by itself: a later sweep finds nothing due.
        await ch.send(outbox_id)
        assert ch.sent()[1:] == ["Your order 1001 has shipped."]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_rate_limited_send_is_retried_no_sooner_than_the_platform_asked(
    open_channel: Callable[[str], Any], platform: str
) -> None:
    ch: Channel = await open_channel(platform)
    status, body, wait = RATE_LIMITED[platform]
    ch.wire.answer = (SEND[platform][1], status, body)
    outbox_id = await ch.queue("Your order 1001 has shipped.")
    before = datetime.now(UTC)
    await ch.send(outbox_id)
    row = await ch.row(outbox_id)
    assert row["status"] == "failed" and row["attempts"] == 1, row
    [attempt] = row["history"]
    assert attempt["outcome"] == AttemptOutcome.RETRY.value and attempt["error"]
    due = datetime.fromisoformat(row["next_attempt_at"])
    assert due >= before + timedelta(seconds=wait or 0.0)
    assert ch.sent()[1:] == []


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_after_the_last_attempt_the_row_is_dead_and_a_replay_sends_it(
    open_channel: Callable[[str], Any], platform: str
) -> None:
    ch: Channel = await open_channel(platform)
    ch.fault("http_error", status=503)
    outbox_id = await ch.queue("Your order 1001 has shipped.")
    await ch.send(outbox_id)
    assert (await ch.row(outbox_id))["status"] == DeliveryStatus.FAILED.value
    await ch.make_due(outbox_id)
    await ch.send(outbox_id)
    row = await ch.row(outbox_id)
    assert row["status"] == "dead", row
    assert row["last_error"].startswith("gave up after 2 attempts: ")
    listed = await ch.hub.http.get("/api/v1/outbox?status=dead", headers=ch.hub.auth)
    assert [r["id"] for r in listed.json()] == [outbox_id]
    # The outage ends; an operator replays it.
    ch.hub.sandbox.faults.clear()
    replay = await ch.hub.http.post(f"/api/v1/outbox/{outbox_id}/replay", headers=ch.hub.auth)
    assert replay.status_code == 202
    await ch.hub.settle()
    row = await ch.row(outbox_id)
    assert row["status"] == "sent", row
    outcomes = [(a["attempt"], a["outcome"]) for a in row["history"]]
    assert outcomes == [(1, "retry"), (2, "dead"), (0, "replayed"), (1, "sent")]
    assert row["history"][-1]["platform_message_id"]
    assert ch.sent()[1:] == ["Your order 1001 has shipped."]
