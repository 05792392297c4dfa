"""Notifications end to end: a template sent through the admin API arrives at each messenger's
sandbox in that platform's form (Telegram HTML, WhatsApp approved template with ordered
parameters, VK and Viber text with a keyboard); bad input is a 4xx and stores nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from easyflow.sandbox.viber import DEMO_BOT
from easyflow.sandbox.vk import DEMO_COMMUNITY
from easyflow.sandbox.whatsapp import DEMO_NUMBER
from support.hub import CHAT, Hub
from support.messengers import connect

WA_CUSTOMER, VK_CUSTOMER, VIBER_CUSTOMER = "79990001122", 5550001, "01234567890A="
SHIPPED = {"ru": "Ваш заказ №1001 отправлен.", "en": "Your order #1001 has shipped."}
WHERE = {"ru": "Где мой заказ?", "en": "Where is my order?"}


async def _contact(hub: Hub, integration_id: int) -> Any:
    async with hub.container.engine.connect() as conn:
        query = text(
            "SELECT id, language, display_name FROM contacts WHERE integration_id = :i ORDER BY id"
        )
        [row] = (await conn.execute(query, {"i": integration_id})).all()
    return row


def _language(contact: Any) -> str:
    return "en" if (contact.language or "ru").startswith("en") else "ru"


async def _send(
    hub: Hub, contact_id: int, data: dict[str, Any], template: str = "order_shipped"
) -> httpx.Response:
    body = {"contact_id": contact_id, "template": template, "data": data}
    response = await hub.http.post("/api/v1/notifications/send", json=body, headers=hub.auth)
    await hub.settle()
    return response


async def test_a_telegram_contact_gets_the_notification_as_html_with_its_keyboard(
    hub: Hub,
) -> None:
    await hub.customer_writes("привет")
    contact = await _contact(hub, hub.integration_id)
    response = await _send(hub, contact.id, {"number": "1001"})
    assert response.status_code == 202, response.text
    last = hub.sandbox.telegram.sent(hub.token, CHAT)[-1]
    lang = _language(contact)
    assert last.parse_mode == "HTML" and last.text == SHIPPED[lang]
    bold = [e for e in last.entities if e["type"] == "bold"]
    assert [last.text[e["offset"] : e["offset"] + e["length"]] for e in bold] == [
        "№1001" if lang == "ru" else "#1001"
    ]
    keyboard = last.reply_markup["inline_keyboard"]  # type: ignore[index]
    assert keyboard == [[{"text": WHERE[lang], "callback_data": "order 1001"}]]


async def test_data_is_escaped_in_html_and_a_tenant_template_replaces_the_builtin(
    hub: Hub,
) -> None:
    await hub.customer_writes("привет")
    contact = await _contact(hub, hub.integration_id)
    lang = _language(contact)
    template = {
        "text": "{name}, заказ {number} передан в доставку",
        "html": "<i>{name}</i>, заказ <code>{number}</code> передан в доставку",
        "buttons": [[{"text": "Отследить", "url": "https://track.example/{number}"}]],
    }
    put = await hub.http.put(
        f"/api/v1/notifications/templates/order_shipped/{lang}", json=template, headers=hub.auth
    )
    assert put.status_code == 200, put.text
    assert put.json()["fields"] == ["name", "number"] and put.json()["builtin"] is False
    response = await _send(hub, contact.id, {"number": "<b>A&B 7</b>"})
    assert response.status_code == 202, response.text
    last = hub.sandbox.telegram.sent(hub.token, CHAT)[-1]
    # The tags of the data arrive as text: only the template's markup is markup.
    assert last.text == f"{contact.display_name}, заказ <b>A&B 7</b> передан в доставку"
    assert sorted(e["type"] for e in last.entities) == ["code", "italic"]
    [[button]] = last.reply_markup["inline_keyboard"]  # type: ignore[index]
    assert button == {
        "text": "Отследить",
        "url": "https://track.example/%3Cb%3EA%26B%207%3C%2Fb%3E",
    }

    listed = await hub.http.get("/api/v1/notifications/templates", headers=hub.auth)
    sources = {(t["event"], t["language"]): t["builtin"] for t in listed.json()}
    assert sources[("order_shipped", lang)] is False
    assert sources[("payment_received", "ru")] is True  # built-ins exist without setup
    deleted = await hub.http.delete(
        f"/api/v1/notifications/templates/order_shipped/{lang}", headers=hub.auth
    )
    assert deleted.status_code == 204
    await _send(hub, contact.id, {"number": "1001"})
    assert hub.sandbox.telegram.sent(hub.token, CHAT)[-1].text == SHIPPED[lang]


async def test_a_whatsapp_contact_gets_the_approved_template_with_ordered_parameters(
    hub: Hub,
) -> None:
    integration_id = (await connect(hub, "whatsapp")).id
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, WA_CUSTOMER, "Hello!")
    await hub.settle()
    contact = await _contact(hub, integration_id)
    response = await _send(
        hub, contact.id, {"number": "1001", "amount": "2 490 ₽"}, "payment_received"
    )
    assert response.status_code == 202, response.text
    last = hub.sandbox.whatsapp.sent(DEMO_NUMBER.phone_number_id, WA_CUSTOMER)[-1]
    assert last.type == "template"
    template = last.payload["template"]
    assert template["name"] == "payment_received"
    assert template["language"] == {"code": _language(contact)}
    [body] = template["components"]
    assert [p["text"] for p in body["parameters"]] == ["1001", "2 490 ₽"]

    await _send(hub, contact.id, {"number": "1002"})  # order_shipped: (name, number)
    last = hub.sandbox.whatsapp.sent(DEMO_NUMBER.phone_number_id, WA_CUSTOMER)[-1]
    [body] = last.payload["template"]["components"]
    assert [p["text"] for p in body["parameters"]] == [contact.display_name, "1002"]


async def test_a_vk_contact_gets_text_and_keyboard(hub: Hub) -> None:
    integration_id = (await connect(hub, "vk")).id
    hub.sandbox.vk.customer_writes(DEMO_COMMUNITY.group_id, VK_CUSTOMER, "Hello!")
    await hub.settle()
    contact = await _contact(hub, integration_id)
    assert (await _send(hub, contact.id, {"number": "1001"})).status_code == 202
    last = hub.sandbox.vk.sent(DEMO_COMMUNITY.group_id, VK_CUSTOMER)[-1]
    lang = _language(contact)
    assert last.text == SHIPPED[lang]
    labels = [b["action"]["label"] for row in last.keyboard["buttons"] for b in row]  # type: ignore[index]
    assert labels == [WHERE[lang]]


async def test_a_viber_contact_gets_text_and_keyboard(hub: Hub) -> None:
    integration_id = (await connect(hub, "viber")).id
    viber = hub.sandbox.viber
    viber.customer_opens(DEMO_BOT.auth_token, VIBER_CUSTOMER)
    viber.customer_writes(DEMO_BOT.auth_token, VIBER_CUSTOMER, "Hello!")
    await hub.settle()
    contact = await _contact(hub, integration_id)
    assert (await _send(hub, contact.id, {"number": "1001"})).status_code == 202
    last = viber.sent(DEMO_BOT.auth_token, VIBER_CUSTOMER)[-1]
    lang = _language(contact)
    assert last.text == SHIPPED[lang]
    assert [b["Text"] for b in last.keyboard["Buttons"]] == [WHERE[lang]]  # type: ignore[index]


async def test_bad_input_is_a_4xx_with_a_reason_and_stores_nothing(hub: Hub) -> None:
    await hub.customer_writes("привет")
    contact = await _contact(hub, hub.integration_id)
    before = (await hub.count("messages"), await hub.count("outbox"))

    missing = await _send(hub, contact.id, {})
    assert missing.status_code == 400 and "number" in missing.json()["detail"]
    unknown = await _send(hub, contact.id, {"number": "1"}, template="order_lost")
    assert unknown.status_code == 400 and "order_lost" in unknown.json()["detail"]
    nobody = await _send(hub, 999_999, {"number": "1"})
    assert nobody.status_code == 404
    everyone = await hub.http.post(
        "/api/v1/notifications/broadcast",
        json={
            "template": "order_shipped",
            "recipients": [
                {"contact_id": contact.id, "data": {"number": "1"}},
                {"contact_id": contact.id},  # no number: the whole broadcast is refused
            ],
        },
        headers=hub.auth,
    )
    assert everyone.status_code == 400
    bad_template = await hub.http.put(
        "/api/v1/notifications/templates/order_shipped/ru",
        json={"text": "x", "buttons": [[{"text": "go", "url": "javascript:alert(1)"}]]},
        headers=hub.auth,
    )
    assert bad_template.status_code == 400 and "URL" in bad_template.json()["detail"]
    bad_name = await hub.http.put(
        "/api/v1/notifications/templates/Order-Shipped/ru", json={"text": "x"}, headers=hub.auth
    )
    assert bad_name.status_code == 422
    gone = await hub.http.delete(
        "/api/v1/notifications/templates/order_shipped/ru", headers=hub.auth
    )
    assert gone.status_code == 404  # the built-in one cannot be deleted
    assert (await hub.count("messages"), await hub.count("outbox")) == before


async def test_a_broadcast_reaches_every_chat_once(hub: Hub) -> None:
    chats = [CHAT + i for i in range(5)]
    for chat in chats:
        await hub.customer_writes("привет", chat_id=chat)
    async with hub.container.engine.connect() as conn:
        ids = [r.id for r in await conn.execute(text("SELECT id FROM contacts ORDER BY id"))]
    response = await hub.http.post(
        "/api/v1/notifications/broadcast",
        json={
            "template": "payment_received",
            "data": {"amount": "990 ₽"},
            "recipients": [{"contact_id": i, "data": {"number": str(i)}} for i in ids],
        },
        headers=hub.auth,
    )
    assert response.status_code == 202, response.text
    assert len(response.json()["outbox_ids"]) == len(chats)
    await hub.settle()
    for chat, contact_id in zip(chats, ids, strict=True):
        notices = [m for m in hub.sent(chat) if "990 ₽" in m]
        assert len(notices) == 1 and f"№{contact_id}" in notices[0]
