"""Keys and what others can see: API keys listed and revoked, webhook secret rotation with an
expiry, rows the configured keys cannot read, a duplicate bot's 409, health per tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text, update

from api.helpers import UNAUTHORIZED, other_tenant, rows
from easyflow.storage import CredentialCipher, generate_key
from easyflow.storage.tables import integrations
from support.hub import Hub

KEYS = "/api/v1/api-keys"
UPDATE = {"update_id": 900001, "message": {"message_id": 1, "date": 1790000000,
          "chat": {"id": 5550001, "type": "private"}, "from": {"id": 5550001,
          "is_bot": False, "first_name": "Ivan"}, "text": "Hello"}}  # fmt: skip


async def execute(hub: Hub, sql: str, **params: object) -> None:
    async with hub.container.engine.begin() as conn:
        await conn.execute(text(sql), params)


# --------------------------------------------------------------------------- API keys


async def test_a_tenant_lists_its_keys_without_their_secrets(hub: Hub) -> None:
    other_id, other_auth = await other_tenant(hub)
    created = await hub.http.post(KEYS, json={"name": "ci"}, headers=hub.auth)
    assert created.status_code == 201
    new = created.json()
    assert new["key"].startswith(f"ef_{new['prefix']}_") and new["name"] == "ci"

    listed = (await hub.http.get(KEYS, headers=hub.auth)).json()
    assert [(k["name"], k["revoked_at"]) for k in listed] == [("default", None), ("ci", None)]
    assert all(set(k) == {"id", "name", "prefix", "created_at", "revoked_at"} for k in listed)
    assert hub.api_key not in str(listed) and new["key"] not in str(listed)
    theirs = (await hub.http.get(KEYS, headers=other_auth)).json()
    assert [k["id"] for k in theirs] != [k["id"] for k in listed] and len(theirs) == 1
    assert other_id != hub.tenant_id


async def test_a_revoked_key_stops_authenticating_at_once(hub: Hub) -> None:
    created = (await hub.http.post(KEYS, json={"name": "leaked"}, headers=hub.auth)).json()
    leaked = {"Authorization": f"Bearer {created['key']}"}
    assert (await hub.http.get("/api/v1/integrations", headers=leaked)).status_code == 200

    revoked = await hub.http.delete(f"{KEYS}/{created['id']}", headers=hub.auth)
    assert revoked.status_code == 204
    for method, path in (("GET", "/api/v1/integrations"), ("GET", KEYS), ("POST", KEYS)):
        response = await hub.http.request(method, path, headers=leaked, json={})
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    listed = (await hub.http.get(KEYS, headers=hub.auth)).json()
    assert [k["revoked_at"] is not None for k in listed] == [False, True]
    # Revoking again is harmless and keeps the first time.
    again = await hub.http.delete(f"{KEYS}/{created['id']}", headers=hub.auth)
    assert again.status_code == 204
    assert (await hub.http.get(KEYS, headers=hub.auth)).json() == listed


async def test_another_tenants_key_cannot_be_revoked(hub: Hub) -> None:
    _, other_auth = await other_tenant(hub)
    [mine] = (await hub.http.get(KEYS, headers=hub.auth)).json()
    response = await hub.http.delete(f"{KEYS}/{mine['id']}", headers=other_auth)
    assert response.status_code == 404
    assert (await hub.http.get(KEYS, headers=hub.auth)).status_code == 200


@pytest.mark.parametrize("key_id", ["0", "x", str(2**63)])
async def test_a_bad_key_id_is_422(hub: Hub, key_id: str) -> None:
    assert (await hub.http.delete(f"{KEYS}/{key_id}", headers=hub.auth)).status_code == 422


# --------------------------------------------------------------------------- rotation expiry


async def test_a_rotated_webhook_secret_is_refused_after_the_overlap(hub: Hub) -> None:
    old = await hub.webhook_secret()
    rotate = f"/api/v1/integrations/{hub.integration_id}/rotate-webhook-secret"
    assert (await hub.http.post(rotate, headers=hub.auth)).status_code == 204
    [(expires_at,)] = await rows(hub, "SELECT previous_webhook_secret_expires_at FROM integrations")
    assert expires_at is not None
    assert (await hub.post_update(UPDATE, old)).status_code == 200  # queued deliveries

    # The overlap ends (the stored expiry passes): the old secret is a stranger's now.
    async with hub.container.engine.begin() as conn:
        past = datetime(2000, 1, 1, tzinfo=UTC)
        await conn.execute(update(integrations).values(previous_webhook_secret_expires_at=past))
    # Moving the stored expiry stands for time passing: intake's cache keeps an entry no
    # longer than the expiry it read (tests/unit/test_integration_cache.py), so forget it.
    hub.container.integration_cache.clear()
    assert (await hub.post_update({**UPDATE, "update_id": 900002}, old)).status_code == 401
    single = await hub.http.post(
        "/api/v1/messaging/webhook/telegram",
        json={**UPDATE, "update_id": 900003},
        headers={"X-Telegram-Bot-Api-Secret-Token": old},
    )
    assert single.status_code == 401
    current = await hub.webhook_secret()
    assert (await hub.post_update({**UPDATE, "update_id": 900004}, current)).status_code == 200
    await hub.settle()
    stored = await rows(hub, "SELECT event_id FROM inbound_events ORDER BY id")
    assert [r[0] for r in stored] == ["900001", "900004"]


async def test_a_previous_secret_without_an_expiry_is_not_accepted(hub: Hub) -> None:
    """Rotated before expiries existed: the old secret would otherwise live for ever."""
    old = await hub.webhook_secret()
    await hub.container.integrations.rotate_webhook_secret(hub.tenant_id, hub.integration_id)
    await execute(hub, "UPDATE integrations SET previous_webhook_secret_expires_at = NULL")
    assert (await hub.post_update(UPDATE, old)).status_code == 401


# --------------------------------------------------------------------------- unreadable rows


async def test_a_row_the_keys_cannot_read_is_503_or_401_never_500(hub: Hub) -> None:
    # As a process started with another key writes it (a mixed EASYFLOW_SECRET_KEYS).
    foreign = CredentialCipher([generate_key()])
    await execute(
        hub,
        "UPDATE integrations SET credentials_encrypted = :c, webhook_secret_encrypted = :s",
        c=foreign.encrypt_json({"token": hub.token}),
        s=foreign.encrypt(await hub.webhook_secret()),
    )
    path = f"/api/v1/integrations/{hub.integration_id}"
    for method, url in (("GET", path), ("GET", "/api/v1/integrations"), ("POST", path + "/pause")):
        response = await hub.http.request(method, url, headers=hub.auth)
        assert response.status_code == 503, (url, response.text)
        assert "cannot be decrypted with the configured keys" in response.json()["detail"]
    assert (await hub.post_update(UPDATE, "a-wrong-secret")).status_code == 401
    assert (await hub.http.get("/health/integrations")).status_code == 200
    assert await hub.count("inbound_events") == 0


# --------------------------------------------------------------------------- disclosure


async def test_a_bot_connected_elsewhere_even_paused_is_409_naming_nothing_of_theirs(
    hub: Hub,
) -> None:
    paused = await hub.http.post(f"/api/v1/integrations/{hub.integration_id}/pause",
                                 headers=hub.auth)  # fmt: skip
    assert paused.status_code == 200
    _, other_auth = await other_tenant(hub)
    response = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "telegram", "name": "Mine now", "credentials": {"token": hub.token}},
        headers=other_auth,
    )
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "already connected to another Easy Flow account" in detail
    assert str(hub.integration_id) not in detail and "Test Shop" not in detail
    assert await rows(hub, "SELECT id FROM integrations") == [(hub.integration_id,)]
    # The paused bot's webhook was not taken over: resuming gives it back to its owner.
    resumed = await hub.http.post(f"/api/v1/integrations/{hub.integration_id}/resume",
                                  headers=hub.auth)  # fmt: skip
    assert resumed.status_code == 200
    assert hub.sandbox.telegram.webhook_info(hub.token)["url"].endswith(f"/{hub.integration_id}")


async def test_public_health_names_no_integration_and_a_tenant_sees_only_its_own(
    hub: Hub,
) -> None:
    other_id, other_auth = await other_tenant(hub)
    token = hub.sandbox.telegram.register_bot(username="other_bot")["token"]
    theirs = await hub.container.integrations.add(other_id, "telegram", {"token": token})
    await hub.sandbox.reset()  # every bot forgotten: getMe answers 401 for both
    hub.sandbox.telegram.register_bot(token, username="other_bot")  # theirs is back

    public = (await hub.http.get("/health/integrations")).json()
    assert public["integrations"]["telegram"]["by_status"] == {"healthy": 1, "unhealthy": 1}
    text_ = str(public)
    assert "Unauthorized" not in text_ and "errors" not in text_
    assert f"'id': {hub.integration_id}" not in text_

    mine = (await hub.http.get("/api/v1/integrations/health", headers=hub.auth)).json()
    assert mine["status"] == "degraded"
    assert [(i["id"], i["status"], i["error"]) for i in mine["integrations"]] == [
        (hub.integration_id, "unhealthy", "Unauthorized")
    ]
    other = (await hub.http.get("/api/v1/integrations/health", headers=other_auth)).json()
    assert other["status"] == "healthy"
    assert [i["id"] for i in other["integrations"]] == [theirs.id]
    assert (await hub.http.get("/api/v1/integrations/health")).status_code == 401


@pytest.mark.parametrize("name", ["", "   ", "a\u0007b", "n" * 256])
async def test_a_key_name_that_cannot_be_shown_is_422(hub: Hub, name: str) -> None:
    response = await hub.http.post(KEYS, json={"name": name}, headers=hub.auth)
    assert response.status_code == 422
    assert len((await hub.http.get(KEYS, headers=hub.auth)).json()) == 1
