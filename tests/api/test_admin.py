"""The admin API (Bearer tenant API keys): integrations, conversations, outbox and AI.

Every test runs on SQLite and on PostgreSQL, against the real app with the in-process
Telegram sandbox; assertions are on status codes, bodies, rows and what the sandbox recorded.
"""

from __future__ import annotations

import json

import pytest

from easyflow.sandbox.faults import FaultSpec
from easyflow.storage.crypto import CredentialCipher
from support.hub import CHAT, HUB_URL, Hub

from .helpers import (
    PACKED_1002,
    SHIPPED_1001,
    UNANSWERABLE,
    UNAUTHORIZED,
    connect_bot,
    other_tenant,
    rows,
    write,
)

HANDOVER_NOTICE = "I have passed your question to a person; they will answer you here soon."

WEBHOOK_PATH = "/api/v1/messaging/webhook/telegram/{id}"


# --------------------------------------------------------------------------- authentication


async def test_missing_invalid_and_revoked_keys_get_401_without_detail(hub: Hub) -> None:
    well_formed_unknown = "ef_deadbeef_" + "x" * 43
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": f"Bearer {well_formed_unknown}"},
        {"Authorization": f"Basic {hub.api_key}"},
        {"Authorization": hub.api_key},  # no scheme
    ):
        response = await hub.http.get("/api/v1/integrations", headers=headers)
        assert response.status_code == 401, headers
        assert response.json() == UNAUTHORIZED

    info, key = await hub.container.tenants.create_api_key(hub.tenant_id, "temporary")
    bearer = {"Authorization": f"Bearer {key}"}
    assert (await hub.http.get("/api/v1/integrations", headers=bearer)).status_code == 200
    await hub.container.tenants.revoke_api_key(hub.tenant_id, info.id)
    response = await hub.http.get("/api/v1/integrations", headers=bearer)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    # Revoking one key leaves the tenant's other keys working.
    assert (await hub.http.get("/api/v1/integrations", headers=hub.auth)).status_code == 200


async def test_every_admin_route_needs_a_key(hub: Hub) -> None:
    spec = (await hub.http.get("/openapi.json")).json()
    checked = []
    for path, operations in spec["paths"].items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/messaging/webhook"):
            continue
        for method in operations:
            url = path.replace("{integration_id}", "1").replace("{conversation_id}", "1")
            url = url.replace("{outbox_id}", "1")
            response = await hub.http.request(method.upper(), url, json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json() == UNAUTHORIZED
            checked.append((method, path))
    assert len(checked) >= 13  # every route of api/admin.py


# --------------------------------------------------------------------------- integrations


async def test_connecting_a_bot_registers_the_webhook_and_customers_are_answered(
    hub: Hub, encryption_key: str
) -> None:
    token, response = await connect_bot(hub)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["platform"] == "telegram"
    assert created["kind"] == "messenger"
    assert created["name"] == "Second shop"
    assert created["status"] == "active"
    assert created["id"] != hub.integration_id

    info = hub.sandbox.telegram.webhook_info(token)
    assert info["url"] == HUB_URL + WEBHOOK_PATH.format(id=created["id"])
    # The sandbox got a secret with the webhook (test-only peek) and it is the one stored.
    sandbox_secret = hub.sandbox.telegram._bot(token).webhook.secret_token
    assert len(sandbox_secret) >= 32
    [(encrypted,)] = await rows(
        hub, "SELECT webhook_secret_encrypted FROM integrations WHERE id = :id", id=created["id"]
    )
    assert CredentialCipher([encryption_key]).decrypt(encrypted) == sandbox_secret

    await hub.link_customer(777001, integration_id=created["id"])
    assert await write(hub, token, 777001, "Where is my order 1001?") == [SHIPPED_1001]
    attempts = hub.sandbox.telegram.deliveries(token)
    assert [a.status_code for a in attempts] == [200]  # signed with the secret, accepted
    # The first bot is untouched.
    assert hub.sandbox.telegram.webhook_info(hub.token)["url"] == HUB_URL + WEBHOOK_PATH.format(
        id=hub.integration_id
    )


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("123456789:AAunknown-to-the-sandbox-0000000000", id="unknown-token"),
    ],
)
async def test_a_token_the_platform_refuses_is_400_and_nothing_is_stored(
    hub: Hub, token: str
) -> None:
    response = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "telegram", "credentials": {"token": token}},
        headers=hub.auth,
    )
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("telegram refused the integration:")
    assert token not in detail
    assert await rows(hub, "SELECT id FROM integrations") == [(hub.integration_id,)]
    listed = (await hub.http.get("/api/v1/integrations", headers=hub.auth)).json()
    assert [i["id"] for i in listed] == [hub.integration_id]


@pytest.mark.parametrize(
    "credentials",
    [
        pytest.param({}, id="empty"),
        pytest.param({"tok": "123:abc"}, id="wrong-field"),
        pytest.param({"token": ""}, id="blank"),
    ],
)
async def test_missing_credential_field_is_400(hub: Hub, credentials: dict[str, str]) -> None:
    response = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "telegram", "credentials": credentials},
        headers=hub.auth,
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "telegram needs credentials: token"}
    assert len(await rows(hub, "SELECT id FROM integrations")) == 1


async def test_unknown_platform_is_404(hub: Hub) -> None:
    response = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "myspace", "credentials": {"token": "x"}},
        headers=hub.auth,
    )
    assert response.status_code == 404
    assert "myspace" in response.json()["detail"]
    assert len(await rows(hub, "SELECT id FROM integrations")) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"{not json", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(b"[]", id="array"),
        pytest.param(b'{"platform": "telegram"}', id="no-credentials"),
        pytest.param(b'{"platform": "telegram", "credentials": ["x"]}', id="credentials-list"),
        pytest.param(b'{"platform": "telegram", "credentials": {"token": 5}}', id="int-token"),
        pytest.param(b'{"platform": 7, "credentials": {"token": "1:a"}}', id="int-platform"),
    ],
)
async def test_malformed_body_is_422_never_500(hub: Hub, body: bytes) -> None:
    response = await hub.http.post(
        "/api/v1/integrations",
        content=body,
        headers={**hub.auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert isinstance(response.json()["detail"], list)
    assert len(await rows(hub, "SELECT id FROM integrations")) == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param(
            "POST",
            "/api/v1/integrations",
            {"platform": "telegram", "name": "n" * 300, "credentials": {"token": "{token}"}},
            id="name-over-255-chars",
        ),
        pytest.param(
            "POST",
            "/api/v1/integrations",
            {"platform": "telegram", "name": "a\u0000b", "credentials": {"token": "{token}"}},
            id="nul-in-name",
        ),
        pytest.param(
            "PUT", "/api/v1/ai/profile", {"system_prompt": "Be kind.\u0000"}, id="nul-in-profile"
        ),
    ],
)
async def test_text_the_database_cannot_store_is_a_422_not_a_500(
    hub: Hub, method: str, path: str, body: dict[str, object]
) -> None:
    token = hub.sandbox.telegram.register_bot()["token"]
    content = json.dumps(body).replace("{token}", token)
    response = await hub.http.request(
        method, path, content=content, headers={**hub.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert len(await rows(hub, "SELECT id FROM integrations")) == 1


async def test_list_and_get(hub: Hub) -> None:
    _, created = await connect_bot(hub)
    second = created.json()
    listed = (await hub.http.get("/api/v1/integrations", headers=hub.auth)).json()
    assert [i["id"] for i in listed] == [hub.integration_id, second["id"]]
    assert listed[1] == second
    assert set(second) == {"id", "platform", "kind", "name", "status", "settings", "created_at"}

    one = await hub.http.get(f"/api/v1/integrations/{hub.integration_id}", headers=hub.auth)
    assert one.status_code == 200
    assert one.json() == listed[0]
    assert one.json()["name"] == "telegram"  # defaults to the platform

    missing = await hub.http.get("/api/v1/integrations/999999", headers=hub.auth)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "integration 999999 not found"}
    bad_id = await hub.http.get("/api/v1/integrations/abc", headers=hub.auth)
    assert bad_id.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        pytest.param("GET", "/api/v1/integrations/{id}", {404, 422}, id="get-integration"),
        pytest.param("GET", "/api/v1/conversations/{id}/messages", {404, 422}, id="messages"),
        pytest.param("POST", "/api/v1/outbox/{id}/replay", {404, 422}, id="replay"),
        # Public: anyone on the internet can post here.
        pytest.param("POST", WEBHOOK_PATH, {401, 404, 422}, id="webhook"),
    ],
)
async def test_an_id_beyond_64_bits_is_not_a_500(
    hub: Hub, method: str, path: str, expected: set[int]
) -> None:
    url = path.format(id=2**64)
    response = await hub.http.request(method, url, headers=hub.auth, json={"update_id": 1})
    assert response.status_code in expected


async def test_pause_keeps_messages_at_the_platform_and_resume_answers_them(hub: Hub) -> None:
    await hub.link_customer()
    paused = await hub.http.post(
        f"/api/v1/integrations/{hub.integration_id}/pause", headers=hub.auth
    )
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    got = await hub.http.get(f"/api/v1/integrations/{hub.integration_id}", headers=hub.auth)
    assert got.json()["status"] == "paused"

    assert hub.sandbox.telegram.webhook_info(hub.token)["url"] == ""
    assert await write(hub, hub.token, CHAT, "Where is my order 1001?") == []
    assert hub.sandbox.telegram.deliveries(hub.token) == []
    assert len(hub.sandbox.telegram.pending_updates(hub.token)) == 1  # kept by Telegram
    assert await hub.count("inbound_events") == 0

    resumed = await hub.http.post(
        f"/api/v1/integrations/{hub.integration_id}/resume", headers=hub.auth
    )
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "active"
    await hub.settle()
    assert hub.sent() == [SHIPPED_1001]  # the message sent while paused, answered now
    assert await write(hub, hub.token, CHAT, "Where is my order 1002?") == [
        SHIPPED_1001,
        PACKED_1002,
    ]
    assert await hub.count("inbound_events") == 2


async def test_delete_removes_the_webhook_and_the_integration(hub: Hub) -> None:
    token, created = await connect_bot(hub)
    integration_id = created.json()["id"]
    assert await write(hub, token, 777002, "Hello!") != []

    response = await hub.http.delete(f"/api/v1/integrations/{integration_id}", headers=hub.auth)
    assert response.status_code == 204
    assert response.content == b""
    assert hub.sandbox.telegram.webhook_info(token)["url"] == ""
    got = await hub.http.get(f"/api/v1/integrations/{integration_id}", headers=hub.auth)
    assert got.status_code == 404
    again = await hub.http.delete(f"/api/v1/integrations/{integration_id}", headers=hub.auth)
    assert again.status_code == 404
    # Its conversations went with it; the other bot's webhook stays.
    sql = "SELECT count(*) FROM conversations WHERE integration_id = :id"
    assert await rows(hub, sql, id=integration_id) == [(0,)]
    assert hub.sandbox.telegram.webhook_info(hub.token)["url"] != ""


async def test_delete_goes_ahead_when_the_platform_cannot_remove_the_webhook(hub: Hub) -> None:
    hub.sandbox.faults.add(
        FaultSpec(platform="telegram", kind="http_error", status=400, method="deleteWebhook")
    )
    response = await hub.http.delete(f"/api/v1/integrations/{hub.integration_id}", headers=hub.auth)
    assert response.status_code == 204
    assert await hub.count("integrations") == 0


async def test_rotating_the_secret_of_an_ai_integration_is_400(hub: Hub) -> None:
    hub.sandbox.openai.add_key("sk-test-" + "r" * 24)
    created = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "openai", "credentials": {"api_key": "sk-test-" + "r" * 24}},
        headers=hub.auth,
    )
    assert created.status_code == 201
    assert created.json()["kind"] == "chat_model"
    response = await hub.http.post(
        f"/api/v1/integrations/{created.json()['id']}/rotate-webhook-secret", headers=hub.auth
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "openai receives no webhooks"}


async def test_rotations_the_platform_refused_do_not_lock_the_bot_out(hub: Hub) -> None:
    hub.sandbox.faults.add(
        FaultSpec(platform="telegram", kind="http_error", status=502, method="setWebhook")
    )
    rotate = f"/api/v1/integrations/{hub.integration_id}/rotate-webhook-secret"
    for _ in range(2):  # an operator retries during a platform outage
        response = await hub.http.post(rotate, headers=hub.auth)
        assert response.status_code == 400
        assert "refused the new secret" in response.json()["detail"]
    # The platform still signs with the secret it was given first (test-only peek).
    platform_secret = hub.sandbox.telegram._bot(hub.token).webhook.secret_token
    update = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 1790000100,
            "text": "Where is my order 1001?",
            "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Ivan"},
        },
    }
    response = await hub.post_update(update, platform_secret)
    assert response.status_code == 200


# --------------------------------------------------------------------------- tenancy


async def test_another_tenants_objects_do_not_exist(hub: Hub) -> None:
    await hub.customer_writes("Where is my order 1001?")
    [conversation] = (await hub.http.get("/api/v1/conversations", headers=hub.auth)).json()
    [outbox_row] = (await hub.http.get("/api/v1/outbox", headers=hub.auth)).json()
    _, other = await other_tenant(hub)

    integration = f"/api/v1/integrations/{hub.integration_id}"
    for method, path, body in (
        ("GET", integration, None),
        ("POST", f"{integration}/pause", None),
        ("POST", f"{integration}/resume", None),
        ("POST", f"{integration}/rotate-webhook-secret", None),
        ("DELETE", integration, None),
        ("GET", f"/api/v1/conversations/{conversation['id']}/messages", None),
        ("POST", f"/api/v1/conversations/{conversation['id']}/status", {"status": "handover"}),
        ("POST", f"/api/v1/outbox/{outbox_row['id']}/replay", None),
    ):
        response = await hub.http.request(method, path, json=body, headers=other)
        assert response.status_code == 404, (method, path, response.text)
    for path in ("/api/v1/integrations", "/api/v1/conversations", "/api/v1/outbox"):
        assert (await hub.http.get(path, headers=other)).json() == []
    by_integration = await hub.http.get(
        "/api/v1/conversations", params={"integration_id": hub.integration_id}, headers=other
    )
    assert by_integration.json() == []
    usage = (await hub.http.get("/api/v1/ai/usage", headers=other)).json()
    assert usage["requests"] == 0

    # Nothing of the first tenant changed.
    mine = (await hub.http.get(integration, headers=hub.auth)).json()
    assert mine["status"] == "active"
    [still] = (await hub.http.get("/api/v1/conversations", headers=hub.auth)).json()
    assert still["status"] == "open"


# --------------------------------------------------------------------------- conversations


async def test_conversations_and_their_messages(hub: Hub) -> None:
    await hub.link_customer()
    await hub.link_customer(CHAT + 1)
    await hub.customer_writes("Where is my order 1001?")
    await hub.sandbox.telegram.customer_writes(hub.token, CHAT + 1, "Where is my order 1002?")
    await hub.settle()

    listed = await hub.http.get("/api/v1/conversations", headers=hub.auth)
    assert listed.status_code == 200
    conversations = listed.json()
    assert sorted(c["chat_id"] for c in conversations) == [str(CHAT), str(CHAT + 1)]
    first = next(c for c in conversations if c["chat_id"] == str(CHAT))
    assert first["integration_id"] == hub.integration_id
    assert first["status"] == "open"
    assert first["last_message_at"] is not None

    response = await hub.http.get(f"/api/v1/conversations/{first['id']}/messages", headers=hub.auth)
    assert response.status_code == 200
    messages = response.json()
    assert [(m["direction"], m["author"], m["text"], m["status"]) for m in messages] == [
        ("inbound", "customer", "Where is my order 1001?", "received"),
        ("outbound", "assistant", SHIPPED_1001, "sent"),
    ]
    [sent] = hub.sandbox.telegram.sent(hub.token, CHAT)
    assert messages[1]["platform_message_id"] == str(sent.message_id)
    assert messages[1]["sent_at"] is not None
    assert all(m["conversation_id"] == first["id"] for m in messages)

    after = await hub.http.get(
        f"/api/v1/conversations/{first['id']}/messages",
        params={"after_id": messages[0]["id"]},
        headers=hub.auth,
    )
    assert [m["id"] for m in after.json()] == [messages[1]["id"]]
    limited = await hub.http.get("/api/v1/conversations", params={"limit": 1}, headers=hub.auth)
    assert len(limited.json()) == 1
    handover = await hub.http.get(
        "/api/v1/conversations", params={"status": "handover"}, headers=hub.auth
    )
    assert handover.json() == []
    for params in ({"limit": 0}, {"status": "nonsense"}, {"offset": -1}):
        bad = await hub.http.get("/api/v1/conversations", params=params, headers=hub.auth)
        assert bad.status_code == 422, params
    missing = await hub.http.get("/api/v1/conversations/999999/messages", headers=hub.auth)
    assert missing.status_code == 404


async def test_handing_a_conversation_back_to_the_bot(hub: Hub) -> None:
    await hub.link_customer()
    await hub.customer_writes(UNANSWERABLE)
    assert hub.sent() == [HANDOVER_NOTICE]
    [conversation] = (
        await hub.http.get("/api/v1/conversations", params={"status": "handover"}, headers=hub.auth)
    ).json()
    await hub.customer_writes("Where is my order 1001?")
    assert hub.sent() == [HANDOVER_NOTICE]  # a person has it: the bot stays silent

    url = f"/api/v1/conversations/{conversation['id']}/status"
    bad = await hub.http.post(url, json={"status": "nonsense"}, headers=hub.auth)
    assert bad.status_code == 422
    response = await hub.http.post(url, json={"status": "open"}, headers=hub.auth)
    assert response.status_code == 200
    assert response.json()["id"] == conversation["id"]
    assert response.json()["status"] == "open"

    await hub.customer_writes("Where is my order 1002?")
    assert hub.sent() == [HANDOVER_NOTICE, PACKED_1002]
    missing = await hub.http.post(
        "/api/v1/conversations/999999/status", json={"status": "open"}, headers=hub.auth
    )
    assert missing.status_code == 404


async def test_a_customer_writing_to_a_closed_conversation_is_answered(hub: Hub) -> None:
    await hub.link_customer()
    await hub.sandbox.telegram.customer_writes(hub.token, CHAT, UNANSWERABLE)
    await hub.settle()
    [conversation] = (await hub.http.get("/api/v1/conversations", headers=hub.auth)).json()
    url = f"/api/v1/conversations/{conversation['id']}/status"
    closed = await hub.http.post(url, json={"status": "closed"}, headers=hub.auth)
    assert closed.json()["status"] == "closed"

    await hub.customer_writes("Where is my order 1002?")  # days later, a new question
    assert hub.sent() == [HANDOVER_NOTICE, PACKED_1002]


# --------------------------------------------------------------------------- outbox


async def test_a_dead_send_is_listed_and_replayed(hub: Hub) -> None:
    await hub.link_customer()
    hub.sandbox.faults.add(
        FaultSpec(platform="telegram", kind="http_error", status=400, method="sendMessage", count=1)
    )
    await hub.customer_writes("Where is my order 1001?")
    assert hub.sent() == []

    dead = await hub.http.get("/api/v1/outbox", params={"status": "dead"}, headers=hub.auth)
    assert dead.status_code == 200
    [row] = dead.json()
    assert row["integration_id"] == hub.integration_id
    assert row["kind"] == "message"
    assert row["status"] == "dead"
    assert row["attempts"] == 1  # a 400 is never retried
    assert "Bad Request" in row["last_error"]
    messages = (
        await hub.http.get(
            f"/api/v1/conversations/{row['conversation_id']}/messages", headers=hub.auth
        )
    ).json()
    assert messages[-1]["status"] == "dead"
    assert "Bad Request" in messages[-1]["error"]

    replay = await hub.http.post(f"/api/v1/outbox/{row['id']}/replay", headers=hub.auth)
    assert replay.status_code == 202
    assert replay.json() == {"status": "queued"}
    await hub.settle()
    assert hub.sent() == [SHIPPED_1001]
    assert (
        await hub.http.get("/api/v1/outbox", params={"status": "dead"}, headers=hub.auth)
    ).json() == []
    [sent_row] = (
        await hub.http.get("/api/v1/outbox", params={"status": "sent"}, headers=hub.auth)
    ).json()
    assert sent_row["id"] == row["id"]
    messages = (
        await hub.http.get(
            f"/api/v1/conversations/{row['conversation_id']}/messages", headers=hub.auth
        )
    ).json()
    assert messages[-1]["status"] == "sent"

    # Only dead rows replay; an unknown row does not exist.
    again = await hub.http.post(f"/api/v1/outbox/{row['id']}/replay", headers=hub.auth)
    assert again.status_code == 400
    assert "only dead rows replay" in again.json()["detail"]
    missing = await hub.http.post("/api/v1/outbox/999999/replay", headers=hub.auth)
    assert missing.status_code == 404
    bad = await hub.http.get("/api/v1/outbox", params={"status": "lost"}, headers=hub.auth)
    assert bad.status_code == 422


# --------------------------------------------------------------------------- AI


async def test_ai_profile_changes_what_the_local_responder_answers(hub: Hub) -> None:
    assert await write(hub, hub.token, 880001, "How long does delivery take?") == [
        "We deliver in 2-4 days."
    ]
    profile = {
        "system_prompt": "You are the assistant of Test Shop.",
        "faq": [
            {"topic": "delivery", "keywords": ["delivery"], "answer": "Courier, next day."},
            {"topic": "returns", "keywords": ["return"], "answer": "Returns within 30 days."},
        ],
        "providers": ["local"],
    }
    response = await hub.http.put("/api/v1/ai/profile", json=profile, headers=hub.auth)
    assert response.status_code == 204
    assert await write(hub, hub.token, 880002, "How long does delivery take?") == [
        "Courier, next day."
    ]
    assert await write(hub, hub.token, 880003, "Can I return the lamp?") == [
        "Returns within 30 days."
    ]

    for bad in (
        {**profile, "system_prompt": ""},
        {"faq": profile["faq"]},
        {**profile, "faq": [{"topic": "x", "answer": "no keywords"}]},
    ):
        refused = await hub.http.put("/api/v1/ai/profile", json=bad, headers=hub.auth)
        assert refused.status_code == 422
    # A refused profile changed nothing.
    assert await write(hub, hub.token, 880004, "Any delivery on Sunday?") == ["Courier, next day."]


async def test_ai_usage_counts_every_reply(hub: Hub) -> None:
    empty = await hub.http.get("/api/v1/ai/usage", headers=hub.auth)
    assert empty.status_code == 200
    assert empty.json() == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "requests": 0,
    }
    await hub.customer_writes("Where is my order 1001?")
    await hub.sandbox.telegram.customer_writes(hub.token, CHAT + 1, UNANSWERABLE)
    await hub.settle()
    usage = (await hub.http.get("/api/v1/ai/usage", headers=hub.auth)).json()
    assert usage["requests"] == 2  # an answer and a handover: the local responder is free
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] == 0


async def test_the_same_bot_cannot_be_connected_twice(hub: Hub) -> None:
    other_id, other_auth = await other_tenant(hub)
    for auth in (hub.auth, other_auth):  # in this tenant or in another one
        response = await hub.http.post(
            "/api/v1/integrations",
            json={"platform": "telegram", "credentials": {"token": hub.token}},
            headers=auth,
        )
        assert response.status_code == 409
        detail = response.json()["detail"]
        if auth == hub.auth:
            assert f"already connected as integration {hub.integration_id}" in detail
        else:  # nothing of the other tenant's: not its integration's id (tests/api/test_keys.py)
            assert "already connected to another Easy Flow account" in detail
            assert str(hub.integration_id) not in detail
    assert len(await rows(hub, "SELECT id FROM integrations")) == 1
    # The first integration keeps its webhook and keeps answering.
    assert hub.sandbox.telegram.webhook_info(hub.token)["url"].endswith(f"/{hub.integration_id}")
    assert other_id != hub.tenant_id


@pytest.mark.parametrize(
    ("profile", "status"),
    [
        ({"system_prompt": "x", "providers": ["gpt-99"]}, 400),
        ({"system_prompt": "x", "providers": ["telegram"]}, 400),
        ({"system_prompt": "x", "faq": [{"topic": "t", "keywords": [" "], "answer": "a"}]}, 422),
        ({"system_prompt": "x", "providers": []}, 422),
    ],
)
async def test_an_ai_profile_that_cannot_work_is_refused(
    hub: Hub, profile: dict[str, object], status: int
) -> None:
    response = await hub.http.put("/api/v1/ai/profile", json=profile, headers=hub.auth)
    assert response.status_code == status, response.text
