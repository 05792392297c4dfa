"""Dedup by (integration, update_id) has a window: a reused id is a new message, a retry is not.

Telegram picks update ids afresh after a week without updates (and the sandbox restarts them
on reset), while it retries a delivery for 24 hours at most. A slot held since before the
window is freed (the old row is kept, renamed `<id>~<row id>`); a recent one still dedups.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text

from easyflow.domain.messaging import InboundKind, InboundMessage, Sender
from easyflow.storage.types import utcnow
from support.hub import CHAT, Hub


async def _age_events(hub: Hub, days: int) -> None:
    async with hub.container.engine.begin() as conn:
        await conn.execute(
            text("UPDATE inbound_events SET received_at = :at"),
            {"at": utcnow() - timedelta(days=days)},
        )


async def _events(hub: Hub) -> list[tuple[str, str]]:
    async with hub.container.engine.connect() as conn:
        query = text("SELECT event_id, status FROM inbound_events ORDER BY id")
        return [(r[0], r[1]) for r in await conn.execute(query)]


def _update(update_id: int, text_: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id % 1000,
            "date": 1790000100,
            "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "first_name": "Ivan"},
            "text": text_,
        },
    }


async def test_an_update_id_reused_after_the_window_is_a_new_message(hub: Hub) -> None:
    update = await hub.customer_writes("Hello!")
    update_id = update["update_id"]
    assert len(hub.sent()) == 1
    await _age_events(hub, days=8)  # a week without updates: Telegram picks ids afresh

    secret = await hub.webhook_secret()
    response = await hub.post_update(_update(update_id, "Hello again!"), secret)
    assert response.json() == {"ok": True}
    await hub.settle()
    assert len(hub.sent()) == 2  # answered, not acknowledged and dropped

    events = await _events(hub)
    assert [status for _, status in events] == ["done", "done"]
    renamed, fresh = events[0][0], events[1][0]
    assert renamed.startswith(f"{update_id}~") and fresh == str(update_id)

    # Telegram's own retry of the new delivery is still a duplicate.
    await hub.post_update(_update(update_id, "Hello again!"), secret)
    await hub.settle()
    assert len(hub.sent()) == 2
    assert len(await _events(hub)) == 2


async def test_a_redelivery_within_the_window_is_still_dropped(hub: Hub) -> None:
    update = await hub.customer_writes("Hello!")
    await _age_events(hub, days=0)
    await hub.post_update(update, await hub.webhook_secret())
    await hub.settle()
    assert len(hub.sent()) == 1
    assert len(await _events(hub)) == 1


def _message(event_id: str) -> InboundMessage:
    return InboundMessage(event_id, InboundKind.MESSAGE, "42", Sender("42"), "hi", utcnow())


async def test_add_many_frees_only_slots_older_than_its_window(hub: Hub) -> None:
    add = (hub.tenant_id, hub.integration_id, "telegram")
    rows = [(i, "42", _message(i)) for i in ("1", "2", "3")]
    async with hub.container.uow() as uow:
        first = await uow.inbound.add_many(*add, rows, {"update_id": 1})
        await uow.commit()
    await _age_events(hub, days=2)
    async with hub.container.uow() as uow:
        fresh = await uow.inbound.add_many(*add, [(i, "42", _message(i)) for i in ("4",)], {})
        # "4" is recent, 1-3 are two days old: a two-day window keeps them all taken...
        kept = await uow.inbound.add_many(
            *add, [(i, "42", _message(i)) for i in ("1", "4")], {}, dedup_window=timedelta(days=3)
        )
        # ...the default 24 h window frees 1 and 2, not the recent 4.
        again = await uow.inbound.add_many(
            *add, [(i, "42", _message(i)) for i in ("1", "2", "4")], {}
        )
        await uow.commit()
    assert len(first) == 3 and len(fresh) == 1
    assert kept == []
    assert len(again) == 2 and min(again) > max(fresh)
    ids = sorted(event_id for event_id, _ in await _events(hub))
    assert ids == sorted(["1", "2", "3", "4", f"1~{first[0]}", f"2~{first[1]}"])
