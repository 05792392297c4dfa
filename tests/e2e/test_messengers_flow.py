"""WhatsApp, VK and Viber end to end: connected the platform's way, a customer writes on
each, the hub answers on the same channel, and the one webhook route answers each platform in
its own form. On SQLite and PostgreSQL, the hub and the sandboxes in one process; assertions
are on what the sandboxes recorded and on the database rows.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from sqlalchemy import text

from easyflow.platforms.whatsapp import SIGNATURE as WHATSAPP_SIGNATURE
from easyflow.sandbox.viber import DEMO_BOT
from easyflow.sandbox.vk import DEMO_COMMUNITY
from easyflow.sandbox.whatsapp import DEMO_NUMBER
from support.hub import HUB_URL, Hub
from support.messengers import connect

GREETING = "Hello! I can tell you where your order is — just send its number."
WA_CUSTOMER, VK_CUSTOMER, VIBER_CUSTOMER = "79990001122", 5550001, "01234567890A="


def _path(platform: str, integration_id: int) -> str:
    return f"/api/v1/messaging/webhook/{platform}/{integration_id}"


async def _messages(hub: Hub, integration_id: int) -> list[Any]:
    from sqlalchemy import text

    async with hub.container.engine.connect() as conn:
        query = text(
            "SELECT m.direction, m.status, m.text FROM messages m JOIN conversations c "
            "ON c.id = m.conversation_id WHERE c.integration_id = :i ORDER BY m.id"
        )
        return list((await conn.execute(query, {"i": integration_id})).all())


async def _settled_statuses(hub: Hub, integration_id: int, outbound: str) -> list[Any]:
    """The messages once the reply reached `outbound` (reports arrive after the send's
    answer, and may overtake its recording: they are applied again shortly), or as they are
    after a few seconds."""
    for _ in range(50):
        rows = await _messages(hub, integration_id)
        if rows and rows[-1].status == outbound:
            break
        await asyncio.sleep(0.1)
    return rows


async def test_a_whatsapp_customer_asks_and_gets_an_answer(hub: Hub) -> None:
    integration = await connect(hub, "whatsapp")
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, WA_CUSTOMER, "Hello!")
    await hub.settle()
    [reply] = hub.sandbox.whatsapp.sent(DEMO_NUMBER.phone_number_id, WA_CUSTOMER)
    assert reply.text == GREETING
    # The statuses that followed (sent, delivered) were accepted, signed and acknowledged,
    # and the reply's stored status follows them.
    rows = await _settled_statuses(hub, integration.id, "delivered")
    assert [(r.direction, r.status) for r in rows] == [
        ("inbound", "received"),
        ("outbound", "delivered"),
    ]
    attempts = hub.sandbox.whatsapp.deliveries(DEMO_NUMBER.phone_number_id)
    assert len(attempts) == 3 and all(a["status"] == 200 for a in attempts)


async def test_a_vk_customer_asks_and_gets_an_answer_with_the_rows_random_id(hub: Hub) -> None:
    integration = await connect(hub, "vk")
    hub.sandbox.vk.customer_writes(DEMO_COMMUNITY.group_id, VK_CUSTOMER, "Hello!")
    await hub.settle()
    [reply] = hub.sandbox.vk.sent(DEMO_COMMUNITY.group_id, VK_CUSTOMER)
    assert reply.text == GREETING
    async with hub.container.engine.connect() as conn:
        from sqlalchemy import text

        outbox_id = (await conn.execute(text("SELECT max(id) FROM outbox"))).scalar_one()
    assert reply.random_id == outbox_id  # a resend of that row is the same VK message
    rows = await _messages(hub, integration.id)
    assert [(r.direction, r.status) for r in rows] == [
        ("inbound", "received"),
        ("outbound", "sent"),
    ]


async def test_a_viber_customer_asks_and_gets_an_answer(hub: Hub) -> None:
    integration = await connect(hub, "viber")  # set_webhook: Viber probed the hub's URL
    s = hub.sandbox.viber
    assert s.bot(DEMO_BOT.auth_token).sender.url == HUB_URL + _path("viber", integration.id)
    s.customer_opens(DEMO_BOT.auth_token, VIBER_CUSTOMER)
    s.customer_writes(DEMO_BOT.auth_token, VIBER_CUSTOMER, "Hello!")
    await hub.settle()
    [reply] = s.sent(DEMO_BOT.auth_token, VIBER_CUSTOMER)
    assert reply.text == GREETING and reply.sender["name"] == DEMO_BOT.name
    rows = await _settled_statuses(hub, integration.id, "read")  # delivered, then seen
    assert [(r.direction, r.status) for r in rows] == [
        ("inbound", "received"),
        ("outbound", "read"),
    ]


async def test_each_platform_is_answered_in_its_own_form(hub: Hub) -> None:
    wa = await connect(hub, "whatsapp")
    vk = await connect(hub, "vk")
    viber = await connect(hub, "viber")
    # WhatsApp's GET verification: the bare challenge as text, 403 for a wrong token.
    query = {
        "hub.mode": "subscribe",
        "hub.challenge": "8231",
        "hub.verify_token": wa.webhook_secrets[0],
    }
    ok = await hub.http.get(_path("whatsapp", wa.id), params=query)
    assert (ok.status_code, ok.text, ok.headers["content-type"]) == (
        200,
        "8231",
        "text/plain; charset=utf-8",
    )
    wrong = await hub.http.get(_path("whatsapp", wa.id), params={**query, "hub.verify_token": "x"})
    assert wrong.status_code == 403
    # VK: `confirmation` answered with the string, events with a bare `ok`.
    base = {"group_id": DEMO_COMMUNITY.group_id, "v": "5.199", "secret": vk.webhook_secrets[0]}
    confirm = await hub.http.post(
        _path("vk", vk.id), json={**base, "type": "confirmation", "event_id": "c1"}
    )
    assert (confirm.status_code, confirm.text) == (200, DEMO_COMMUNITY.confirmation)
    other = await hub.http.post(
        _path("vk", vk.id), json={**base, "type": "group_join", "event_id": "e1", "object": {}}
    )
    assert (other.status_code, other.text) == (200, "ok")
    # A platform without a GET handshake: 405; another platform's integration id: 404.
    assert (await hub.http.get(_path("vk", vk.id))).status_code == 405
    assert (await hub.http.get(_path("telegram", hub.integration_id))).status_code == 405
    assert (await hub.http.post(_path("whatsapp", viber.id), content=b"{}")).status_code == 404
    assert (await hub.http.post(_path("nonesuch", viber.id), content=b"{}")).status_code == 404


@pytest.mark.parametrize(
    "forgery",
    ["missing", "wrong_secret", "tampered", "reserialized"],
)
async def test_unauthenticated_deliveries_are_401_and_store_nothing(hub: Hub, forgery: str) -> None:
    wa = await connect(hub, "whatsapp")
    vk = await connect(hub, "vk")
    document = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messages": [
                                {
                                    "from": WA_CUSTOMER,
                                    "id": "wamid.X",
                                    "timestamp": "1790000200",
                                    "type": "text",
                                    "text": {"body": "Привет / hi"},
                                }
                            ]
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(document).encode()  # escaped non-ASCII, like Meta
    headers = WHATSAPP_SIGNATURE.sign(DEMO_NUMBER.app_secret, body)
    vk_doc = {
        "type": "message_new",
        "event_id": "f1",
        "group_id": DEMO_COMMUNITY.group_id,
        "v": "5.199",
        "object": {
            "message": {
                "date": 1790000300,
                "from_id": VK_CUSTOMER,
                "peer_id": VK_CUSTOMER,
                "text": "hi",
            }
        },
    }
    vk_secret: str | None = vk.webhook_secrets[0]
    if forgery == "missing":
        headers, vk_secret = {}, None
    elif forgery == "wrong_secret":
        headers, vk_secret = WHATSAPP_SIGNATURE.sign("f" * 32, body), "wrong"
    elif forgery == "tampered":
        body = body.replace(b"hi", b"ho")
    else:
        body = json.dumps(document, ensure_ascii=False).encode()
    response = await hub.http.post(_path("whatsapp", wa.id), content=body, headers=headers)
    assert response.status_code == 401
    if forgery in ("missing", "wrong_secret"):  # VK's secret is not a signature of the body
        sent = {**vk_doc, "secret": vk_secret} if vk_secret else vk_doc
        assert (await hub.http.post(_path("vk", vk.id), json=sent)).status_code == 401
    assert await hub.count("inbound_events") == 0


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe not utf-8",
        b'{"object": "whatsapp_business_account", "entry": {}}',
        b"[" * 10_000 + b"]" * 10_000,
        b'"\\ud800"',
    ],
)
async def test_bodies_not_the_platforms_shape_are_4xx(hub: Hub, body: bytes) -> None:
    wa = await connect(hub, "whatsapp")
    headers = WHATSAPP_SIGNATURE.sign(DEMO_NUMBER.app_secret, body)
    response = await hub.http.post(_path("whatsapp", wa.id), content=body, headers=headers)
    assert 400 <= response.status_code < 500
    assert await hub.count("inbound_events") == 0


async def test_the_api_answer_says_what_to_paste_where_the_seller_registers_the_webhook(
    hub: Hub,
) -> None:
    credentials = hub.sandbox.vk.demo_credentials()[0]
    response = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "vk", "credentials": credentials},
        headers=hub.auth,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    setup = created["settings"]["webhook_setup"]
    assert setup["Server address"] == HUB_URL + _path("vk", created["id"])
    assert setup["Confirmation string the hub will answer"] == DEMO_COMMUNITY.confirmation
    # The secret key shown is the one the hub checks: the sandbox's server is accepted with it.
    await hub.sandbox.vk.add_server(
        DEMO_COMMUNITY.group_id, setup["Server address"], setup["Secret key"]
    )
    hub.sandbox.vk.customer_writes(DEMO_COMMUNITY.group_id, VK_CUSTOMER, "Hello!")
    await hub.settle()
    assert [m.text for m in hub.sandbox.vk.sent(DEMO_COMMUNITY.group_id)] == [GREETING]
    # Shown once: not stored with the integration's settings.
    listed = (await hub.http.get(f"/api/v1/integrations/{created['id']}", headers=hub.auth)).json()
    assert "webhook_setup" not in listed["settings"]


async def test_one_bad_message_in_a_whatsapp_batch_keeps_the_rest(hub: Hub) -> None:
    wa = await connect(hub, "whatsapp")
    good = {
        "from": WA_CUSTOMER,
        "id": "wamid.GOOD",
        "timestamp": str(int(time.time())),  # inside the 24-hour window: answered
        "type": "text",
        "text": {"body": "Hello!"},
    }
    bad = {"from": WA_CUSTOMER, "id": "wamid.BAD", "type": "text", "text": {"body": "no timestamp"}}
    value = {"messaging_product": "whatsapp", "messages": [bad, good]}
    document = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    body = json.dumps(document).encode()
    response = await hub.http.post(
        _path("whatsapp", wa.id),
        content=body,
        headers=WHATSAPP_SIGNATURE.sign(DEMO_NUMBER.app_secret, body),
    )
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    await hub.settle()
    from sqlalchemy import text

    async with hub.container.engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT event_id, status, error FROM inbound_events ORDER BY id")
            )
        ).all()
    assert [(r.event_id, r.status) for r in rows] == [
        ("wamid.GOOD", "done"),
        ("wamid.BAD", "failed"),
    ]
    assert "timestamp" in rows[1].error
    assert [
        m.text for m in hub.sandbox.whatsapp.sent(DEMO_NUMBER.phone_number_id, WA_CUSTOMER)
    ] == [GREETING]


async def test_whatsapp_reports_out_of_order_never_move_a_message_back(hub: Hub) -> None:
    hub.sandbox.whatsapp.config.read_before_delivered = True
    hub.sandbox.whatsapp.config.duplicate_statuses = True
    hub.sandbox.whatsapp.config.statuses = ("sent", "delivered", "read")
    integration = await connect(hub, "whatsapp")
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, WA_CUSTOMER, "Hello!")
    await hub.settle()
    rows = await _settled_statuses(hub, integration.id, "read")
    await asyncio.sleep(0.3)  # the late "delivered" and the doubles have come too
    rows = await _messages(hub, integration.id)
    assert rows[-1].status == "read"


async def test_a_failure_reported_after_the_send_makes_the_message_dead_with_its_reason(
    hub: Hub,
) -> None:
    hub.sandbox.whatsapp.config.window_seconds = -1  # every free-text send is outside it
    integration = await connect(hub, "whatsapp")
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, WA_CUSTOMER, "Hello!")
    await hub.settle()
    rows = await _settled_statuses(hub, integration.id, "dead")
    assert rows[-1].status == "dead"
    async with hub.container.engine.connect() as conn:
        error = (
            await conn.execute(text("SELECT error FROM messages ORDER BY id DESC LIMIT 1"))
        ).scalar_one()
    assert "131047" in error
    listed = await hub.http.get("/api/v1/outbox", headers=hub.auth)
    assert listed.status_code == 200
