"""A human in the loop, end to end: handover rules, the customer told, operators notified (in
their Telegram chat and by a signed webhook), an operator's reply delivered to the customer.

The hub and the Telegram sandbox run in one process; the operator tool's webhook receiver is
a real HTTP server on a local port. Assertions are on what the sandbox recorded, the bytes
the receiver got, and the rows. Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from support.hub import CHAT, ORDERS, Hub, running_hub
from support.live_server import async_live_server
from support.webhook_receiver import WebhookReceiver

# The operator's own chat with the shop's bot. (A group works the same, but Telegram lets a
# bot post to a group only 20 times a minute, and the hub keeps to that: slow for a test.)
OPERATORS = 777000
NOTICE = "I have passed your question to a person; they will answer you here soon."
PHOTO_NOTICE = f"Thank you for the photo! I can only read text. {NOTICE}"


@pytest.fixture
async def hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    # Webhook retries come due at once (base 0); the periodic delivery is left to the test.
    async with running_hub(
        migrated_database_url,
        tmp_path,
        encryption_key,
        retry_base_seconds=0,
        operator_webhook_interval_seconds=3600,
    ) as running:
        await running.container.tenants.upsert_orders(running.tenant_id, ORDERS)
        yield running


async def _rules(hub: Hub, **rules: Any) -> dict[str, Any]:
    response = await hub.http.put("/api/v1/handover/rules", json=rules, headers=hub.auth)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _operators_chat(hub: Hub, **rules: Any) -> None:
    """The operator's chat, where they said hello to the bot once."""
    await _rules(
        hub, operator_integration_id=hub.integration_id, operator_chat_id=str(OPERATORS), **rules
    )
    await hub.sandbox.telegram.customer_writes(hub.token, OPERATORS, "/start", first_name="Anna")
    await hub.settle()


async def _post_message(hub: Hub, **content: Any) -> None:
    """A customer's non-text message, as Telegram delivers it (signed with the bot's secret)."""
    update_id = 800_000_000 + int(time.time_ns() % 100_000_000)
    sender = {"id": CHAT, "is_bot": False, "first_name": "Ivan", "language_code": "en"}
    message = {
        "message_id": update_id % 1_000_000,
        "date": int(time.time()),
        "from": sender,
        "chat": {"id": CHAT, "type": "private", "first_name": "Ivan"},
        **content,
    }
    response = await hub.post_update(
        {"update_id": update_id, "message": message}, await hub.webhook_secret()
    )
    assert response.status_code == 200
    await hub.settle()


async def _events(hub: Hub) -> list[dict[str, Any]]:
    response = await hub.http.get("/api/v1/operator-events", headers=hub.auth)
    assert response.status_code == 200
    return list(response.json())


async def _conversation(hub: Hub, chat_id: int = CHAT) -> dict[str, Any]:
    listed = await hub.http.get(
        "/api/v1/handover/conversations", params={"status": "handover"}, headers=hub.auth
    )
    [found] = [c for c in listed.json() if c["chat_id"] == str(chat_id)]
    detail = await hub.http.get(f"/api/v1/conversations/{found['id']}", headers=hub.auth)
    assert detail.status_code == 200
    return dict(detail.json())


async def test_asking_for_a_person_notifies_operators_and_their_reply_reaches_the_customer(
    hub: Hub,
) -> None:
    await _operators_chat(hub)
    assert hub.sent(OPERATORS) == []  # the team's own chat is not a customer: no answer

    await hub.customer_writes("Hello!")
    await hub.customer_writes("Can I talk to a human, please?")
    assert hub.sent()[-1] == NOTICE
    [alert] = hub.sent(OPERATORS)
    assert "Ivan needs a person (asked for a person)" in alert
    assert "“Can I talk to a human, please?”" in alert

    await hub.customer_writes("Are you there?")
    assert hub.sent()[-1] == NOTICE  # a person has it: the bot stays silent
    assert hub.sent(OPERATORS)[-1].endswith("Ivan: Are you there?")

    conversation = await _conversation(hub)
    assert conversation["handover_reason"] == "asked_for_person"
    assert [m["text"] for m in conversation["messages"]][-2:] == [NOTICE, "Are you there?"]
    reply = await hub.http.post(
        f"/api/v1/conversations/{conversation['id']}/reply",
        json={"text": "Hi Ivan, Anna here. How can I help?", "operator": "Anna"},
        headers=hub.auth,
    )
    assert reply.status_code == 201, reply.text
    await hub.settle()
    assert hub.sent()[-1] == "Hi Ivan, Anna here. How can I help?"
    async with hub.container.engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT author, status, platform_message_id FROM messages WHERE id = :id"),
                {"id": reply.json()["id"]},
            )
        ).one()
    assert (row.author, row.status) == ("human", "sent")
    assert row.platform_message_id == str(hub.sandbox.telegram.sent(hub.token, CHAT)[-1].message_id)

    released = await hub.http.post(
        f"/api/v1/conversations/{conversation['id']}/release", headers=hub.auth
    )
    assert released.status_code == 204
    await hub.customer_writes("Where is my order 1001?")  # the bot answers again
    assert hub.sent()[-1].startswith("To keep order details private")
    assert [e["type"] for e in await _events(hub)] == [
        "conversation.handover",
        "conversation.customer_message",
        "conversation.operator_reply",
        "conversation.released",
    ]


async def test_a_handover_is_posted_signed_to_the_operator_tools_webhook(hub: Hub) -> None:
    receiver = WebhookReceiver(statuses=[500])  # down once, then fine
    async with async_live_server(receiver) as url:
        rules = await _rules(hub, keywords=["refund"], webhook_url=f"{url}/easyflow")
        secret = rules["webhook_secret"]
        assert secret.startswith("whsec_")
        await hub.customer_writes("I want a refund for my sofa")
        assert hub.sent() == [NOTICE]

        assert await hub.container.operator_webhooks.deliver_due() == 0  # the 500
        [failed] = await _events(hub)
        assert (failed["delivery"], failed["attempts"], failed["last_error"]) == (
            "failed",
            1,
            "HTTP 500",
        )
        assert await hub.container.operator_webhooks.deliver_due() == 1
        assert await hub.container.operator_webhooks.deliver_due() == 0  # nothing twice

    first, second = receiver.requests
    assert (second.method, second.path) == ("POST", "/easyflow")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"evt_{failed['id']}"
    signed = f"{second.headers['webhook-id']}.{second.headers['webhook-timestamp']}.".encode()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, signed + second.body, hashlib.sha256).digest()
    assert second.headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
    assert abs(int(second.headers["webhook-timestamp"]) - time.time()) < 600
    body = json.loads(second.body)
    assert body["type"] == "conversation.handover"
    assert body["data"]["reason"] == "keyword"
    assert body["data"]["detail"] == "refund"
    assert body["data"]["message"]["text"] == "I want a refund for my sofa"
    assert body["data"]["contact"]["name"] == "Ivan"
    assert (body["data"]["platform"], body["data"]["chat_id"]) == ("telegram", str(CHAT))
    [delivered] = await _events(hub)
    assert delivered["delivery"] == "sent"


async def test_a_photo_is_answered_stored_with_its_metadata_and_shown_to_operators(
    hub: Hub,
) -> None:
    await _operators_chat(hub)
    await hub.customer_writes("Hello!")
    small = {"file_id": "AgAD-s", "file_unique_id": "s1", "width": 90, "height": 67}
    large = {"file_id": "AgAD-large", "file_unique_id": "l1", "width": 1280, "height": 960}
    photo = [{**small, "file_size": 1200}, {**large, "file_size": 98000}]
    await _post_message(hub, photo=photo)
    assert hub.sent()[-1] == PHOTO_NOTICE
    assert "Ivan needs a person (sent a photo)" in hub.sent(OPERATORS)[-1]

    conversation = await _conversation(hub)
    assert conversation["handover_reason"] == "media: photo"
    [stored] = [m for m in conversation["messages"] if m["attachments"]]
    assert stored["text"] == "[photo]"
    assert stored["attachments"] == [
        {
            "kind": "photo",
            "metadata": {
                "file_id": "AgAD-large",
                "file_unique_id": "l1",
                "width": 1280,
                "height": 960,
                "file_size": 98000,
            },
        }
    ]


async def test_a_sticker_and_a_location_are_answered_by_the_bot(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    sticker = {"file_id": "CAAC", "type": "regular", "width": 512, "height": 512, "emoji": "👍"}
    await _post_message(hub, sticker=sticker)
    assert hub.sent()[-1].startswith("🙂 How can I help?")
    await _post_message(hub, location={"latitude": 55.7558, "longitude": 37.6173})
    assert hub.sent()[-1].startswith("Thank you, I got your location.")
    async with hub.container.engine.connect() as conn:
        status = (await conn.execute(text("SELECT status FROM conversations"))).scalar_one()
        stored = (
            await conn.execute(
                text("SELECT attachments FROM messages WHERE attachments IS NOT NULL")
            )
        ).scalars()
        kinds = [json.loads(a)[0] if isinstance(a, str) else a[0] for a in stored]
    assert status == "open"
    assert kinds[0] == {"kind": "sticker", "metadata": sticker}
    assert kinds[1] == {"kind": "location", "metadata": {"latitude": 55.7558, "longitude": 37.6173}}


async def test_rules_are_the_tenants_own(hub: Hub) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).weekday()
    await _rules(
        hub,
        media={"photo": "reply"},
        on_request=False,
        after_hours_notice="We are closed; Anna answers from {opens}.",
        working_hours={"timezone": "UTC", "days": [tomorrow], "opens": "09:00", "closes": "18:00"},
    )
    await hub.customer_writes("Hello!")
    await _post_message(hub, photo=[{"file_id": "AgAD", "width": 10, "height": 10}])
    assert hub.sent()[-1] == (
        "Thank you for the photo! I can only read text: please write your question in words."
    )
    day = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[tomorrow]
    await hub.customer_writes("Can I pay with my grandmother's gift card in installments?")
    assert hub.sent()[-1] == f"We are closed; Anna answers from {day} 09:00 (UTC)."
    conversation = await _conversation(hub)
    assert conversation["handover_reason"] == "model_cannot_help: no confident answer"

    got = await hub.http.get("/api/v1/handover/rules", headers=hub.auth)
    assert got.json()["media"]["photo"] == "reply"
    assert got.json()["media"]["voice"] == "handover"  # the defaults for the rest
    assert got.json()["on_request"] is False


async def test_a_closed_conversation_starts_afresh_with_the_bot(hub: Hub) -> None:
    await hub.customer_writes("I need an operator")
    assert hub.sent() == [NOTICE]
    conversation = await _conversation(hub)
    closed = await hub.http.post(
        f"/api/v1/conversations/{conversation['id']}/close",
        json={"operator": "Anna"},
        headers=hub.auth,
    )
    assert closed.status_code == 204
    await hub.customer_writes("Hello!")
    assert hub.sent()[-1] == "Hello! I can tell you where your order is — just send its number."
    closing = [e for e in await _events(hub) if e["type"] == "conversation.closed"]
    assert closing[0]["data"]["operator"] == "Anna"
