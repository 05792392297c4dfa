"""Nothing about an order reaches anyone but its customer (issue 5 finding 8, issue 9 item 5).

The seeded orders 1001 and 1002 carry the phone number PHONE. A customer hears about them
only after proving that number: by sharing their own Telegram contact, or by typing it when
asked. Everyone else — and anyone asking about an order that does not exist — hears the same
request for the phone number on the order, and nothing else. Assertions are on what the
Telegram sandbox delivered, what the OpenAI sandbox was sent, and the rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import structlog
from sqlalchemy import text

from easyflow.observability.logging import configure_logging
from support.hub import CHAT, ORDERS, PHONE, PROFILE, Hub, running_hub

STRANGER = CHAT + 7
SHIPPED_1001 = "Order 1001 has been shipped. Tracking number: RR1RU."
CONFIRMED = "Thank you, your phone number is confirmed."
# Anything that would tell a stranger about order 1001 or 1002.
DISCLOSURES = ("shipped", "RR1RU", "2490", "990", "packed", "delivered", "confirmed", "Ivan")
OPENAI_KEY = "sk-test-" + "p" * 24
COMPLETIONS = "/v1/chat/completions"


def _last_prompt(hub: Hub) -> str:
    return json.dumps(hub.sandbox.openai.requests(COMPLETIONS)[-1].body, ensure_ascii=False)


def _discloses(replies: list[str]) -> list[str]:
    return [word for word in DISCLOSURES for reply in replies if word in reply]


async def _contact_phones(hub: Hub) -> dict[str, str | None]:
    async with hub.container.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT external_id, phone FROM contacts"))).all()
    return {row.external_id: row.phone for row in rows}


async def _conversation_status(hub: Hub, chat_id: int) -> str:
    async with hub.container.engine.connect() as conn:
        query = text("SELECT status FROM conversations WHERE chat_id = :chat")
        return str((await conn.execute(query, {"chat": str(chat_id)})).scalar_one())


async def test_a_stranger_learns_nothing_not_even_that_the_order_exists(hub: Hub) -> None:
    await hub.customer_writes("Where is my order 1001?", chat_id=STRANGER)
    await hub.customer_writes("Where is my order 4242?", chat_id=STRANGER)
    mine, unknown = hub.sent(STRANGER)
    assert _discloses([mine, unknown]) == []
    assert "phone number given in order 1001" in mine
    # Someone else's order and no order at all get the same words.
    assert mine.replace("1001", "N") == unknown.replace("4242", "N")


async def test_the_owner_confirms_the_phone_and_hears_the_pending_answer(
    hub: Hub, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("DEBUG")
    await hub.customer_writes("Where is my order 1001?")
    await hub.customer_writes("It is 8 900 123 45 67")
    await hub.customer_writes("And order 1002?")  # linked now: no second confirmation
    asked, confirmed, second = hub.sent()
    assert _discloses([asked]) == []
    assert confirmed == f"{CONFIRMED} {SHIPPED_1001}"
    assert second == "Order 1002 is being packed."
    assert (await _contact_phones(hub))[str(CHAT)] == "89001234567"
    logs = capsys.readouterr().err
    assert "contact proved a phone number" in logs
    for written in ("9001234567", "900 123 45 67"):
        assert written not in logs  # personal data


async def test_a_shared_contact_links_at_once(hub: Hub) -> None:
    await hub.customer_writes("Where is my order 1001?")
    response = await hub.share_contact("+79001234567")
    assert response.json() == {"ok": True}
    assert hub.sent()[-1] == f"{CONFIRMED} {SHIPPED_1001}"
    await hub.customer_writes("And 1002?")
    assert hub.sent()[-1] == "Order 1002 is being packed."


async def test_someone_elses_contact_card_proves_nothing(hub: Hub) -> None:
    await hub.customer_writes("Where is my order 1001?", chat_id=STRANGER)
    await hub.share_contact(PHONE, chat_id=STRANGER, user_id=CHAT)  # the owner's card
    assert _discloses(hub.sent(STRANGER)) == []
    assert (await _contact_phones(hub))[str(STRANGER)] is None


async def test_a_wrong_phone_discloses_nothing_and_the_third_hands_over(hub: Hub) -> None:
    await hub.customer_writes("Where is my order 1001?", chat_id=STRANGER)
    for guess in ("+7 900 000 00 01", "+7 900 000 00 02"):
        await hub.customer_writes(guess, chat_id=STRANGER)
        assert hub.sent(STRANGER)[-1] == (
            "I could not find order 1001 with this phone number. "
            "Please check the order number and the phone number."
        )
    await hub.customer_writes("+7 900 000 00 03", chat_id=STRANGER)
    assert await _conversation_status(hub, STRANGER) == "handover"
    await hub.customer_writes(PHONE, chat_id=STRANGER)  # too late: a person decides now
    assert _discloses(hub.sent(STRANGER)) == []
    # The third wrong number is answered with the hand-over; the later message is not.
    assert len(hub.sent(STRANGER)) == 4
    assert hub.sent(STRANGER)[-1] == (
        "I could not confirm the phone number, so a manager will answer you here shortly."
    )
    assert (await _contact_phones(hub))[str(STRANGER)] is None


async def test_unknown_orders_are_not_found_never_invented(hub: Hub) -> None:
    await hub.link_customer()
    await hub.customer_writes("Where is my order 4242?")
    assert hub.sent()[-1] == (
        "I could not find order 4242 among the orders placed with your phone number. "
        "If it was placed with another phone number, please send that number."
    )
    await hub.customer_writes("Где заказ 777?", chat_id=STRANGER)
    await hub.customer_writes("89001234567", chat_id=STRANGER)
    assert hub.sent(STRANGER)[-1].startswith("Не нашёл заказ 777 с этим номером телефона.")
    assert _discloses(hub.sent() + hub.sent(STRANGER)) == []


async def test_a_group_chat_hears_no_order_even_from_its_linked_customer(hub: Hub) -> None:
    await hub.link_customer()
    group = -1001234
    await hub.customer_writes("Where is my order 1001?", chat_id=group, user_id=CHAT)
    await hub.customer_writes(PHONE, chat_id=group, user_id=CHAT)
    assert _discloses(hub.sent(group)) == []
    assert hub.sent(group)[0].startswith("I can discuss order 1001 only in a private chat")


# --------------------------------------------------------------------------- OpenAI


@pytest.fixture
async def ai_hub(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> AsyncIterator[Hub]:
    profile = replace(PROFILE, providers=("openai", "local"))
    async with running_hub(migrated_database_url, tmp_path, encryption_key, profile=profile) as hub:
        hub.sandbox.openai.add_key(OPENAI_KEY)
        await hub.container.integrations.add(hub.tenant_id, "openai", {"api_key": OPENAI_KEY})
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        yield hub


async def test_the_model_is_never_sent_a_locked_order_nor_a_phone_number(ai_hub: Hub) -> None:
    hub = ai_hub
    hub.sandbox.openai.script(["Please send the phone number.", "Thanks, it is on its way."])
    await hub.customer_writes("Where is my order 1001?")
    locked = _last_prompt(hub)
    for fact in ("RR1RU", "shipped", "2490", PHONE, "9001234567"):
        assert fact not in locked
    assert "Order 1001: the customer has not confirmed that this order is theirs" in locked

    await hub.customer_writes("+7 900 123 45 67")
    body = hub.sandbox.openai.requests(COMPLETIONS)[-1].body
    system, *turns = body["messages"]
    assert "Order 1001: status shipped, tracking number RR1RU" in system["content"]
    assert turns[-1] == {"role": "user", "content": "[phone number]"}
    assert "9001234567" not in _last_prompt(hub)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog and the log level back: configure_logging points at captured stderr."""
    saved, level = structlog.get_config(), logging.getLogger().level
    try:
        yield
    finally:
        structlog.reset_defaults()
        structlog.configure(**saved)
        logging.getLogger().setLevel(level)
