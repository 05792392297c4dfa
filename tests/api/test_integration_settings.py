"""`PATCH /api/v1/integrations/{id}/settings`: settings changed after connecting, checked as the
platform declares them, tenant-scoped, and read by the next webhook and the next send."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from easyflow.sandbox.whatsapp import DEMO_NUMBER
from easyflow.sandbox.wildberries.emulator import DEMO_TOKEN
from support.hub import HUB_URL, Hub

from .helpers import other_tenant, rows

CUSTOMER = "79990001122"
GREETING = "Hello! I can tell you where your order is — just send its number."


async def _add(hub: Hub, platform: str, credentials: dict[str, str], **settings: Any) -> int:
    response = await hub.http.post(
        "/api/v1/integrations",
        headers=hub.auth,
        json={"platform": platform, "credentials": credentials, "settings": settings},
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _whatsapp(hub: Hub, **settings: Any) -> int:
    integration_id = await _add(
        hub, "whatsapp", hub.sandbox.whatsapp.demo_credentials()[0], **settings
    )
    url = f"{HUB_URL}/api/v1/messaging/webhook/whatsapp/{integration_id}"
    async with hub.container.uow() as uow:  # the verify token the seller pastes
        secret = (await uow.integrations.get(hub.tenant_id, integration_id)).webhook_secrets[0]
    await hub.sandbox.whatsapp.configure_webhook(DEMO_NUMBER.phone_number_id, url, secret)
    return integration_id


async def _stored(hub: Hub, integration_id: int) -> dict[str, Any]:
    [(raw,)] = await rows(
        hub, "SELECT settings FROM integrations WHERE id = :id", id=integration_id
    )
    return dict(json.loads(raw) if isinstance(raw, str) else raw)


async def _patch(hub: Hub, integration_id: int, body: Any, **kw: Any) -> Any:
    return await hub.http.patch(
        f"/api/v1/integrations/{integration_id}/settings",
        headers=kw.get("headers", hub.auth),
        json=body,
    )


async def test_a_changed_fallback_template_is_the_one_sent(hub: Hub) -> None:
    integration_id = await _whatsapp(
        hub, fallback_template={"name": "customer_reply", "language": "en"}
    )
    before = await _stored(hub, integration_id)
    changed = await _patch(
        hub, integration_id, {"fallback_template": {"name": "order_ready", "language": "ru"}}
    )
    assert changed.status_code == 200, changed.text
    expected = before | {"fallback_template": {"name": "order_ready", "language": "ru"}}
    assert changed.json()["settings"] == expected
    assert await _stored(hub, integration_id) == expected

    # WhatsApp holds the window closed: the free-text answer fails, and the fallback follows.
    hub.sandbox.whatsapp.config.window_seconds = -1
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")
    for _ in range(100):
        await hub.settle()
        sent = hub.sandbox.whatsapp.sent(DEMO_NUMBER.phone_number_id, CUSTOMER)
        if len(sent) == 2:
            break
    text_sent, template = sent
    assert text_sent.text == GREETING
    assert template.payload["template"]["name"] == "order_ready"
    assert template.payload["template"]["language"] == {"code": "ru"}


async def test_the_cached_integration_is_dropped(hub: Hub) -> None:
    integration_id = await _whatsapp(hub)
    hub.sandbox.whatsapp.customer_writes(DEMO_NUMBER.phone_number_id, CUSTOMER, "Hello!")
    await hub.settle()
    cache = hub.container.integration_cache
    assert cache.get("whatsapp", integration_id) is not None  # intake cached it

    response = await _patch(hub, integration_id, {"graph_version": "v22.0"})
    assert response.status_code == 200, response.text
    assert cache.get("whatsapp", integration_id) is None


async def test_null_removes_a_setting_and_the_others_stay(hub: Hub) -> None:
    fallback = {"name": "customer_reply", "language": "en"}
    integration_id = await _whatsapp(hub, fallback_template=fallback, graph_version="v22.0")
    response = await _patch(hub, integration_id, {"fallback_template": None})
    assert response.status_code == 200, response.text
    stored = await _stored(hub, integration_id)
    assert "fallback_template" not in stored and stored["graph_version"] == "v22.0"
    assert stored["account_id"] == DEMO_NUMBER.phone_number_id  # the hub's own, untouched


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"fallback_template": "customer_reply"}, "setting 'fallback_template' must be"),
        (
            {"fallback_template": {"name": "Customer Reply!", "language": "en"}},
            "name must be a template name",
        ),
        ({"graph_version": "latest"}, "must be a Graph API version"),
        ({"colour": "blue"}, "whatsapp has no setting 'colour'"),
        ({"access_token": "EAAnew"}, "'access_token' is a whatsapp credential, not a setting"),
        ({"account_id": "1"}, "account_id: set by the hub"),
        ({}, "no settings to change"),
    ],
)
async def test_a_change_the_platform_cannot_take_is_400_and_nothing_is_written(
    hub: Hub, body: dict[str, Any], reason: str
) -> None:
    integration_id = await _whatsapp(hub, fallback_template={"name": "x", "language": "en"})
    before = await _stored(hub, integration_id)
    # A valid change beside the refused one is not written either.
    response = await _patch(hub, integration_id, {"graph_version": "v22.0"} | body if body else {})
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]
    assert await _stored(hub, integration_id) == before


@pytest.mark.parametrize(
    "body", [[1, 2], "text", {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}]
)
async def test_a_body_that_is_not_settings_is_422(hub: Hub, body: Any) -> None:
    response = await _patch(hub, hub.integration_id, body)
    assert response.status_code == 422, response.text


async def test_settings_of_a_platform_that_takes_none_are_refused(hub: Hub) -> None:
    response = await _patch(hub, hub.integration_id, {"fallback_template": {"name": "x"}})
    assert response.status_code == 400
    assert "telegram has no setting 'fallback_template' (its settings: none)" in response.text


async def test_a_marketplace_warehouse_is_changed(hub: Hub) -> None:
    integration_id = await _add(hub, "wildberries", {"token": DEMO_TOKEN})
    response = await _patch(hub, integration_id, {"warehouse_id": 507})
    assert response.status_code == 200, response.text
    assert (await _stored(hub, integration_id))["warehouse_id"] == 507
    refused = await _patch(hub, integration_id, {"warehouse_id": "../../x"})
    assert refused.status_code == 400
    assert "warehouse_id' must be a whole number" in refused.json()["detail"]
    assert (await _stored(hub, integration_id))["warehouse_id"] == 507


async def test_another_tenants_integration_does_not_exist(hub: Hub) -> None:
    integration_id = await _whatsapp(hub)
    before = await _stored(hub, integration_id)
    _, headers = await other_tenant(hub)
    response = await _patch(hub, integration_id, {"graph_version": "v22.0"}, headers=headers)
    assert response.status_code == 404
    assert await _stored(hub, integration_id) == before


async def test_changes_made_at_once_all_land(hub: Hub) -> None:
    """Each change reads the settings and writes them back whole: read unlocked, the later
    of two concurrent changes wrote back the settings without the earlier one's change."""
    integration_id = await _add(hub, "wildberries", {"token": DEMO_TOKEN})
    for value in range(1, 11):
        responses = await asyncio.gather(
            _patch(hub, integration_id, {"warehouse_id": value}),
            _patch(hub, integration_id, {"statistics_page_cap": value}),
        )
        assert [r.status_code for r in responses] == [200, 200]
        stored = await _stored(hub, integration_id)
        assert (stored["warehouse_id"], stored["statistics_page_cap"]) == (value, value)


async def test_a_marketplace_schedule_is_changed_and_checked(hub: Hub) -> None:
    integration_id = await _add(hub, "wildberries", {"token": DEMO_TOKEN})
    response = await _patch(hub, integration_id, {"sync_every": {"orders": 300, "stocks": 900}})
    assert response.status_code == 200, response.text
    assert (await _stored(hub, integration_id))["sync_every"] == {"orders": 300, "stocks": 900}
    for bad in ({"orders": 5}, {"returns": 300}, {}, 300):
        refused = await _patch(hub, integration_id, {"sync_every": bad})
        assert refused.status_code == 400, refused.text
        assert "must be an object of orders, products, stocks to seconds" in refused.text
    assert (await _stored(hub, integration_id))["sync_every"] == {"orders": 300, "stocks": 900}


async def test_an_ai_platform_refuses_a_setting_it_does_not_read(hub: Hub) -> None:
    key = "sk-test-" + "k" * 24
    hub.sandbox.openai.add_key(key)
    integration_id = await _add(hub, "openai", {"api_key": key}, temperature=0.5)
    changed = await _patch(hub, integration_id, {"temperature": 0.1, "tools": False})
    assert changed.status_code == 200, changed.text
    refused = await _patch(hub, integration_id, {"max_tokens": 100})  # OpenAI's is another name
    assert refused.status_code == 400
    assert "openai has no setting 'max_tokens'" in refused.json()["detail"]


async def test_a_setting_refused_at_connection_stores_nothing(hub: Hub) -> None:
    before = await rows(hub, "SELECT id FROM integrations")
    response = await hub.http.post(
        "/api/v1/integrations",
        headers=hub.auth,
        json={"platform": "wildberries", "credentials": {"token": DEMO_TOKEN},
              "settings": {"sync_every": {"orders": 1}}},
    )  # fmt: skip
    assert response.status_code == 400, response.text
    assert "sync_every" in response.json()["detail"]
    assert await rows(hub, "SELECT id FROM integrations") == before
