"""What an outbox row carries reaches the wire, for every messenger; rows of one chat never
hold up another's.

A message is queued as the hub queues one (`uow.outbox.add` with an `OutboxPayload`) and sent
by the production OutboxSender over the real adapters; assertions are on what the sandboxes
recorded. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, text

from easyflow.domain.messaging import Button, MessageTemplate, OutboxKind, OutboxPayload
from easyflow.sandbox.viber import DEMO_BOT
from easyflow.sandbox.vk import DEMO_COMMUNITY
from easyflow.sandbox.whatsapp import DEMO_NUMBER
from easyflow.services.messaging import conversation_lock
from easyflow.storage.tables import outbox
from support.hub import CHAT, Hub
from support.messengers import connect

PLATFORMS = ("telegram", "whatsapp", "vk", "viber")
CUSTOMERS = {"telegram": CHAT, "whatsapp": "79990001122", "vk": 5550001, "viber": "01234567890A="}
TRACK = Button("Track parcel", "track:1001")
LATER = Button("Later", "later:1001")


async def _customer_writes(hub: Hub, platform: str, customer: Any) -> None:
    s = hub.sandbox
    if platform == "telegram":
        await s.telegram.customer_writes(hub.token, customer, "Hello!")
    elif platform == "whatsapp":
        s.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, customer, "Hello!")
    elif platform == "vk":
        s.vk.customer_writes(DEMO_COMMUNITY.group_id, customer, "Hello!")
    else:
        s.viber.customer_opens(DEMO_BOT.auth_token, customer)
        s.viber.customer_writes(DEMO_BOT.auth_token, customer, "Hello!")
    await hub.settle()


async def _conversation(hub: Hub, integration_id: int, chat: Any) -> int:
    async with hub.container.engine.connect() as conn:
        query = text("SELECT id FROM conversations WHERE integration_id = :i AND chat_id = :c")
        return int((await conn.execute(query, {"i": integration_id, "c": str(chat)})).scalar_one())


async def _queue(
    hub: Hub, integration_id: int, conversation_id: int, payload: OutboxPayload
) -> int:
    async with hub.container.uow() as uow:
        item = await uow.outbox.add(
            hub.tenant_id,
            integration_id,
            OutboxKind.MESSAGE,
            payload,
            conversation_id=conversation_id,
        )
        await uow.commit()
    return item.id


def _wire(hub: Hub, platform: str, customer: Any) -> list[Any]:
    """Each message the sandbox took for the customer, as the platform received it."""
    s = hub.sandbox
    if platform == "telegram":
        return [m.to_dict() for m in s.telegram.sent(hub.token, customer)]
    if platform == "whatsapp":
        return [m.payload for m in s.whatsapp.sent(DEMO_NUMBER.phone_number_id, customer)]
    if platform == "vk":
        return [vars(m) for m in s.vk.sent(DEMO_COMMUNITY.group_id, customer)]
    return [vars(m) for m in s.viber.sent(DEMO_BOT.auth_token, customer)]


def _strings(value: Any) -> Iterator[str]:
    """Every string in a wire body, JSON strings inside it (VK button payloads) opened."""
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
        if value.startswith(("{", "[")):
            with contextlib.suppress(ValueError):
                yield from _strings(json.loads(value))


async def _status(hub: Hub, outbox_id: int) -> dict[str, Any]:
    response = await hub.http.get(f"/api/v1/outbox/{outbox_id}", headers=hub.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_buttons_queued_in_the_outbox_reach_the_wire(hub: Hub, platform: str) -> None:
    integration_id = (await connect(hub, platform)).id
    customer = CUSTOMERS[platform]
    await _customer_writes(hub, platform, customer)
    conversation_id = await _conversation(hub, integration_id, customer)
    payload = OutboxPayload(str(customer), "Your order 1001 has shipped.", ((TRACK, LATER),))

    outbox_id = await _queue(hub, integration_id, conversation_id, payload)
    await hub.container.outbox.send_outbox(outbox_id)

    assert (await _status(hub, outbox_id))["status"] == "sent"
    last = _wire(hub, platform, customer)[-1]
    strings = list(_strings(last))
    assert any("Your order 1001 has shipped." in s for s in strings), last
    for button in (TRACK, LATER):
        assert any(button.callback_data in s for s in strings), (button, last)  # type: ignore[operator]


async def test_a_template_with_parameters_reaches_whatsapp_through_the_outbox(hub: Hub) -> None:
    integration_id = (await connect(hub, "whatsapp")).id
    customer = CUSTOMERS["whatsapp"]
    await _customer_writes(hub, "whatsapp", customer)
    conversation_id = await _conversation(hub, integration_id, customer)
    template = MessageTemplate("order_shipped", "ru", ("1001", "RR1RU"))
    payload = OutboxPayload(customer, "Ваш заказ №1001 отправлен.", template=template)

    outbox_id = await _queue(hub, integration_id, conversation_id, payload)
    await hub.container.outbox.send_outbox(outbox_id)

    assert (await _status(hub, outbox_id))["status"] == "sent"
    last = hub.sandbox.whatsapp.sent(DEMO_NUMBER.phone_number_id, customer)[-1]
    assert last.type == "template"
    assert last.payload["template"] == {
        "name": "order_shipped",
        "language": {"code": "ru"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "1001"}, {"type": "text", "text": "RR1RU"}],
            }
        ],
    }


async def test_a_row_an_earlier_version_stored_as_a_plain_dict_is_still_sent(hub: Hub) -> None:
    customer = CUSTOMERS["telegram"]
    await _customer_writes(hub, "telegram", customer)
    conversation_id = await _conversation(hub, hub.integration_id, customer)
    now = datetime.now(UTC)
    async with hub.container.engine.begin() as conn:
        outbox_id = (
            await conn.execute(
                insert(outbox)
                .values(
                    tenant_id=hub.tenant_id,
                    integration_id=hub.integration_id,
                    conversation_id=conversation_id,
                    kind="message",
                    payload={"chat_id": str(customer), "text": "Sent by the old code."},
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
                .returning(outbox.c.id)
            )
        ).scalar_one()

    await hub.container.outbox.send_outbox(outbox_id)

    assert (await _status(hub, outbox_id))["status"] == "sent"
    assert hub.sent(customer)[-1] == "Sent by the old code."


async def _until(condition: Any, timeout: float = 10.0) -> bool:
    """Waits for an outcome (not a duration): True once `condition()` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_chat_whose_sends_are_held_does_not_hold_up_another_chats_callback_answers(
    hub: Hub,
) -> None:
    """Callback answers carry no text; their rows are sent under their conversation's lock,
    so while one chat's lock is held (its worker busy), another chat is answered."""
    group, s = DEMO_COMMUNITY.group_id, hub.sandbox.vk
    integration_id = (await connect(hub, "vk")).id
    chat_a, chat_b = 5550001, 5550002
    conversations = {}
    for chat in (chat_a, chat_b):
        await _customer_writes(hub, "vk", chat)
        conversations[chat] = await _conversation(hub, integration_id, chat)
        payload = OutboxPayload(str(chat), "Track your order?", ((TRACK,),))
        await hub.container.outbox.send_outbox(
            await _queue(hub, integration_id, conversations[chat], payload)
        )
    pressed = {chat: s.sent(group, chat)[-1] for chat in (chat_a, chat_b)}

    def answered(chat: int) -> bool:
        return any(a.peer_id == chat for a in s.answers(group))

    locks = hub.container.outbox._locks  # what another worker busy with chat A would hold
    async with locks.hold(conversation_lock(conversations[chat_a]), 60):
        for chat, message in pressed.items():
            button = message.keyboard["buttons"][0][0]["action"]["payload"]  # type: ignore[index]
            s.customer_presses(group, chat, message.id, button)
        assert await _until(lambda: answered(chat_b))
        assert not answered(chat_a)  # its rows wait for its own lock, and only for it
    await hub.settle()
    assert answered(chat_a)
