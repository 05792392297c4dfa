"""The first whole flow: a Telegram customer asks, the assistant answers from real data.

Each test runs on SQLite and PostgreSQL, with the hub and the Telegram sandbox in one
process; assertions are on what the sandbox recorded and on the database rows.
"""

from __future__ import annotations

from sqlalchemy import text

from easyflow.sandbox.faults import FaultSpec
from support.hub import CHAT, Hub


def _update(update_id: int, text_: str, chat_id: int = CHAT) -> dict:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 1790000100,
            "text": text_,
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ivan"},
            "chat": {"id": chat_id, "type": "private", "first_name": "Ivan"},
        },
    }


async def test_customer_question_is_answered_from_the_orders(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    await hub.customer_writes("Where is my order 1001?")
    await hub.customer_writes("+7 900 123-45-67")  # the phone number on the order
    assert hub.sent() == [
        "Hello! I can tell you where your order is — just send its number.",
        "To keep order details private, I share them only with the customer who placed the "
        "order. Please send the phone number given in order 1001.",
        "Thank you, your phone number is confirmed. "
        "Order 1001 has been shipped. Tracking number: RR1RU.",
    ]
    sent = hub.sandbox.telegram.sent(hub.token, CHAT)
    assert sent[0].parse_mode == "HTML"
    async with hub.container.engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT direction, author, status, platform_message_id, sent_at FROM messages "
                    "ORDER BY id"
                )
            )
        ).all()
    assert [(r.direction, r.author, r.status) for r in rows] == [
        ("inbound", "customer", "received"),
        ("outbound", "assistant", "sent"),
    ] * 3
    assert rows[1].platform_message_id == str(sent[0].message_id)
    assert rows[5].sent_at is not None
    assert await hub.count("contacts") == 1
    assert await hub.count("conversations") == 1
    usage = (await hub.http.get("/api/v1/ai/usage", headers=hub.auth)).json()
    assert usage["requests"] == 3


async def test_unanswerable_question_hands_over_and_tells_the_customer(hub: Hub) -> None:
    await hub.customer_writes("Can I pay with my grandmother's gift card in installments?")
    notice = "I have passed your question to a person; they will answer you here soon."
    assert hub.sent() == [notice]
    conversations = (await hub.http.get("/api/v1/conversations", headers=hub.auth)).json()
    assert [c["status"] for c in conversations] == ["handover"]
    # While a person has the conversation, the bot stays silent.
    await hub.customer_writes("Hello?")
    assert hub.sent() == [notice]
    assert await hub.count("messages") == 3


async def test_wrong_or_missing_secret_is_rejected_and_nothing_is_stored(hub: Hub) -> None:
    for secret in (None, "", "wrong-secret"):
        response = await hub.post_update(_update(1, "Hello"), secret)
        assert response.status_code == 401
        assert response.json() == {"detail": "unauthorized"}
    single = await hub.http.post(
        "/api/v1/messaging/webhook/telegram",
        json=_update(1, "x"),
        headers={"X-Telegram-Bot-Api-Secret-Token": "nope"},
    )
    assert single.status_code == 401
    await hub.settle()
    assert await hub.count("inbound_events") == 0
    assert await hub.count("messages") == 0
    assert hub.sent() == []


async def test_duplicate_update_produces_one_reply(hub: Hub) -> None:
    await hub.link_customer()
    update = await hub.customer_writes("Where is my order 1002?")
    secret = await hub.webhook_secret()
    for _ in range(2):  # Telegram redelivers, e.g. after a timeout on its side
        assert (await hub.post_update(update, secret)).json() == {"ok": True}
    await hub.settle()
    assert hub.sent() == ["Order 1002 is being packed."]
    assert await hub.count("inbound_events") == 1
    assert await hub.count("messages") == 2


async def test_single_channel_route_finds_the_bot_by_its_secret(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    await hub.link_customer()
    secret = await hub.webhook_secret()
    update = _update(10**9, "Where is my order 1001?")
    response = await hub.http.post(
        "/api/v1/messaging/webhook/telegram",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": secret},
    )
    assert response.json() == {"ok": True}
    await hub.settle()
    assert hub.sent()[-1] == "Order 1001 has been shipped. Tracking number: RR1RU."


async def test_malformed_body_gets_400_with_a_reason_and_stores_nothing(hub: Hub) -> None:
    secret = await hub.webhook_secret()
    response = await hub.http.post(
        f"/api/v1/messaging/webhook/telegram/{hub.integration_id}",
        content=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "not JSON" in response.json()["detail"]
    assert await hub.count("inbound_events") == 0


async def test_ignored_update_types_are_acknowledged_and_dropped(hub: Hub) -> None:
    secret = await hub.webhook_secret()
    inline = {"update_id": 9, "inline_query": {"id": "1", "from": {"id": 1}, "query": "x"}}
    response = await hub.post_update(inline, secret)
    assert response.json() == {"ok": True}
    assert await hub.count("inbound_events") == 0


async def test_flood_control_429_is_waited_out_and_the_reply_arrives(hub: Hub) -> None:
    hub.sandbox.faults.add(
        FaultSpec(
            platform="telegram", kind="rate_limit", method="sendMessage", retry_after=1, count=1
        )
    )
    await hub.customer_writes("Hello!")
    assert len(hub.sent()) == 1
    calls = hub.container.metrics.registry.get_sample_value
    labels = {"platform": "telegram", "method": "sendMessage"}
    assert calls("integration_api_calls_total", {**labels, "status": "rate_limited"}) == 1
    assert calls("integration_api_calls_total", {**labels, "status": "ok"}) == 1


async def test_server_errors_on_send_are_retried(hub: Hub) -> None:
    hub.sandbox.faults.add(
        FaultSpec(platform="telegram", kind="http_error", status=502, method="sendMessage", count=2)
    )
    await hub.customer_writes("Hello!")
    assert len(hub.sent()) == 1
    calls = hub.container.metrics.registry.get_sample_value
    retries = calls(
        "integration_api_retries_total",
        {"platform": "telegram", "method": "sendMessage", "reason": "retryable"},
    )
    assert retries == 2


async def test_messages_of_one_chat_are_answered_in_order(hub: Hub) -> None:
    await hub.link_customer()
    for number in ("1001", "1002", "1001", "1002"):
        await hub.sandbox.telegram.customer_writes(hub.token, CHAT, f"order {number}")
    await hub.settle()
    assert (
        hub.sent()
        == [
            "Order 1001 has been shipped. Tracking number: RR1RU.",
            "Order 1002 is being packed.",
        ]
        * 2
    )


async def test_callback_button_is_answered(hub: Hub) -> None:
    secret = await hub.webhook_secret()
    await hub.customer_writes("Hello!")
    await hub.link_customer()
    [sent] = hub.sandbox.telegram.sent(hub.token, CHAT)
    query = {
        "update_id": 42,
        "callback_query": {
            "id": "4190327750000000042",
            "from": {"id": CHAT, "first_name": "Ivan"},
            "message": {
                "message_id": sent.message_id,
                "date": sent.date,
                "chat": {"id": CHAT, "type": "private"},
            },
            "chat_instance": "1",
            "data": "order 1002",
        },
    }
    assert (await hub.post_update(query, secret)).json() == {"ok": True}
    await hub.settle()
    assert hub.sent()[-1] == "Order 1002 is being packed."


async def test_request_id_is_echoed_or_made_up(hub: Hub) -> None:
    given = await hub.http.get("/health", headers={"X-Request-ID": "req-42"})
    assert given.headers["x-request-id"] == "req-42"
    made_up = await hub.http.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert len(made_up.headers["x-request-id"]) == 32


async def test_rotated_secret_is_used_and_the_previous_one_still_accepted(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    first = await hub.webhook_secret()
    rotate = f"/api/v1/integrations/{hub.integration_id}/rotate-webhook-secret"
    assert (await hub.http.post(rotate, headers=hub.auth)).status_code == 204
    second = await hub.webhook_secret()
    assert second != first
    await hub.customer_writes("Where is my order 1001?")  # delivered with the new secret
    assert len(hub.sent()) == 2
    assert (await hub.post_update(_update(10**9, "hi"), first)).status_code == 200
    assert (await hub.http.post(rotate, headers=hub.auth)).status_code == 204
    assert (await hub.post_update(_update(10**9 + 1, "hi"), first)).status_code == 401
    assert (await hub.post_update(_update(10**9 + 2, "hi"), second)).status_code == 200


async def test_a_nul_character_in_an_update_is_stored_not_a_500(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    secret = await hub.webhook_secret()
    response = await hub.post_update(_update(10**9, "order\u00001001"), secret)
    assert response.status_code == 200
    await hub.settle()
    assert await hub.count("inbound_events") == 2
