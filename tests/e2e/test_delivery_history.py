"""A message's delivery history in the admin API: a customer asks, the hub answers, and
`GET /api/v1/outbox/{id}` shows the reply's row with every attempt; the platform's id in the
history is the one the sandbox gave and the stored message carries. Another tenant's row is
404, a path that is not a row id a 4xx."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from support.hub import Hub

GREETING = "Hello! I can tell you where your order is — just send its number."


async def test_a_reply_shows_its_attempts_with_the_platform_message_id(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    [sent] = hub.sandbox.telegram.sent(hub.token, 5550001)
    listed = (await hub.http.get("/api/v1/outbox?status=sent", headers=hub.auth)).json()
    [row] = listed
    detail = await hub.http.get(f"/api/v1/outbox/{row['id']}", headers=hub.auth)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["status"] == "sent" and body["payload"]["text"] == GREETING
    [attempt] = body["history"]
    assert attempt["attempt"] == 1 and attempt["outcome"] == "sent" and attempt["error"] is None
    assert attempt["platform_message_id"] == str(sent.message_id)
    assert datetime.fromisoformat(attempt["at"]) >= datetime.fromisoformat(body["created_at"])
    async with hub.container.engine.connect() as conn:
        stored = (
            await conn.execute(
                text("SELECT platform_message_id FROM messages WHERE id = :i"),
                {"i": body["message_id"]},
            )
        ).scalar_one()
    assert stored == attempt["platform_message_id"]
    # A sent row is not replayed: a 4xx with the reason, its history unchanged.
    replay = await hub.http.post(f"/api/v1/outbox/{row['id']}/replay", headers=hub.auth)
    assert replay.status_code == 400 and "only dead rows replay" in replay.text
    again = (await hub.http.get(f"/api/v1/outbox/{row['id']}", headers=hub.auth)).json()
    assert again["history"] == body["history"]


async def test_another_tenants_row_and_bad_ids_are_refused(hub: Hub) -> None:
    await hub.customer_writes("Hello!")
    [row] = (await hub.http.get("/api/v1/outbox", headers=hub.auth)).json()
    other = await hub.container.tenants.create("Other Shop")
    _, other_key = await hub.container.tenants.create_api_key(other.id)
    theirs = {"Authorization": f"Bearer {other_key}"}
    assert (await hub.http.get(f"/api/v1/outbox/{row['id']}", headers=theirs)).status_code == 404
    assert (await hub.http.get("/api/v1/outbox/999999", headers=hub.auth)).status_code == 404
    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        response = await hub.http.get(f"/api/v1/outbox/{bad}", headers=hub.auth)
        assert 400 <= response.status_code < 500, (bad, response.status_code)
