"""The operators' API: handover rules (defaults, validation, nothing half-written), tenant
isolation of conversations, replies and the feed."""

from __future__ import annotations

from typing import Any

from support.hub import CHAT, Hub

from .helpers import UNANSWERABLE, UNAUTHORIZED, other_tenant, rows

RULES = "/api/v1/handover/rules"


async def _handed_over(hub: Hub) -> int:
    await hub.customer_writes(UNANSWERABLE)
    listed = (await hub.http.get("/api/v1/handover/conversations", headers=hub.auth)).json()
    [conversation] = listed
    assert conversation["handover_reason"] == "model_cannot_help: no confident answer"
    assert conversation["contact"]["display_name"] == "Ivan"
    return int(conversation["id"])


async def test_rules_have_sensible_defaults(hub: Hub) -> None:
    response = await hub.http.get(RULES, headers=hub.auth)
    assert response.status_code == 200
    rules = response.json()
    assert rules["on_request"] is True
    assert rules["on_model_cannot_help"] is True
    assert rules["media"]["photo"] == "handover"
    assert rules["media"]["sticker"] == "reply"
    assert rules["webhook_url"] is None and rules["webhook_secret"] is None


async def test_bad_rules_are_a_4xx_with_a_reason_and_change_nothing(hub: Hub) -> None:
    other, other_auth = await other_tenant(hub)
    bot = hub.sandbox.telegram.register_bot(username="other_shop_bot")
    foreign = await hub.container.integrations.add(other, "telegram", {"token": bot["token"]})
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"webhook_url": "ftp://tool.example/hook"}, 400, "absolute http(s) URL"),
        ({"webhook_url": "not a url"}, 400, "absolute http(s) URL"),
        (
            {"operator_integration_id": foreign.id, "operator_chat_id": "1"},
            400,
            "is not one of yours",
        ),
        ({"operator_integration_id": hub.integration_id}, 400, "go together"),
        ({"operator_chat_id": "1; DROP", "operator_integration_id": 1}, 400, "chat id"),
        ({"working_hours": {"timezone": "Mars/Olympus"}}, 400, "unknown time zone"),
        ({"working_hours": {"opens": "18:00", "closes": "09:00"}}, 400, "open before"),
        ({"working_hours": {"days": []}}, 422, ""),
        ({"media": {"gif": "reply"}}, 422, ""),
        ({"media": {"photo": "ignore"}}, 422, ""),
        ({"notice": ""}, 422, ""),
        ({"keywords": ["x"]}, 422, ""),
    ]
    for body, status, reason in cases:
        response = await hub.http.put(
            RULES, json={"keywords": ["refund"], **body}, headers=hub.auth
        )
        assert response.status_code == status, (body, response.text)
        assert reason in str(response.json()["detail"])
    assert (await hub.http.get(RULES, headers=hub.auth)).json()["keywords"] == []
    assert await rows(hub, "SELECT tenant_id FROM handover_rules") == []
    assert (await hub.http.get(RULES, headers=other_auth)).status_code == 200
    assert (await hub.http.get(RULES)).json() == UNAUTHORIZED


async def test_a_webhook_url_gets_a_secret_that_can_be_rotated(hub: Hub) -> None:
    first = await hub.http.put(
        RULES, json={"webhook_url": "https://tool.example/h"}, headers=hub.auth
    )
    secret = first.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    again = await hub.http.put(
        RULES, json={"webhook_url": "https://tool.example/h2"}, headers=hub.auth
    )
    assert again.json()["webhook_secret"] == secret  # kept while the URL changes
    rotated = await hub.http.post(f"{RULES}/rotate-webhook-secret", headers=hub.auth)
    assert rotated.json()["webhook_secret"] not in (secret, None)
    assert (await hub.http.get(RULES, headers=hub.auth)).json()["webhook_secret"] == rotated.json()[
        "webhook_secret"
    ]
    [(token,)] = await rows(hub, "SELECT webhook_secret_encrypted FROM handover_rules")
    assert secret not in token  # encrypted at rest


async def test_another_tenant_can_neither_read_nor_answer_a_conversation(hub: Hub) -> None:
    conversation = await _handed_over(hub)
    _, other_auth = await other_tenant(hub)
    base = f"/api/v1/conversations/{conversation}"
    assert (await hub.http.get(base, headers=other_auth)).status_code == 404
    for action in ("release", "close"):
        assert (await hub.http.post(f"{base}/{action}", headers=other_auth)).status_code == 404
    reply = await hub.http.post(f"{base}/reply", json={"text": "hi"}, headers=other_auth)
    assert reply.status_code == 404
    assert (await hub.http.get("/api/v1/operator-events", headers=other_auth)).json() == []
    listed = await hub.http.get("/api/v1/handover/conversations", headers=other_auth)
    assert listed.json() == []
    await hub.settle()
    assert len(hub.sent()) == 1  # only the hand-over notice
    detail = (await hub.http.get(base, headers=hub.auth)).json()
    assert detail["status"] == "handover"


async def test_a_reply_needs_text_and_a_person_replying_takes_the_conversation(hub: Hub) -> None:
    await hub.link_customer()
    await hub.customer_writes("Hello!")
    [conversation] = (await hub.http.get("/api/v1/conversations", headers=hub.auth)).json()
    base = f"/api/v1/conversations/{conversation['id']}"
    for text in ("", "x" * 4097):
        response = await hub.http.post(f"{base}/reply", json={"text": text}, headers=hub.auth)
        assert response.status_code == 422
    assert (await hub.http.post(f"{base}/reply", json={}, headers=hub.auth)).status_code == 422
    missing = await hub.http.post(
        "/api/v1/conversations/999999/reply", json={"text": "hi"}, headers=hub.auth
    )
    assert missing.status_code == 404

    reply = await hub.http.post(f"{base}/reply", json={"text": "  Anna here.  "}, headers=hub.auth)
    assert reply.status_code == 201
    assert reply.json()["author"] == "human"
    assert reply.json()["text"] == "Anna here."
    await hub.settle()
    await hub.customer_writes("Where is my order 1001?")
    assert hub.sent()[-1] == "Anna here."  # the bot keeps quiet while a person has it
    detail = (await hub.http.get(base, headers=hub.auth)).json()
    assert detail["status"] == "handover"
    assert detail["handover_reason"] == "operator stepped in"
    assert detail["phone"] == "79001234567"
    assert [(o["number"], o["linked"]) for o in detail["orders"]] == [
        ("1001", True),
        ("1002", True),
    ]
    assert str(CHAT) == detail["chat_id"]
