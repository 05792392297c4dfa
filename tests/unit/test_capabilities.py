"""Services ask what an integration's platform offers, not the one kind its row is stored under.

`bazaar` below is a marketplace with buyer chat: its SPEC offers MARKETPLACE first and
MESSENGER too, so its integrations are stored (and listed) as marketplaces. The operators'
channel must still accept it as a messenger, and refuse a platform that offers no messenger;
the health probe of messengers must reach it too.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import httpx
import pytest

from easyflow.bootstrap import build_container
from easyflow.config import Settings
from easyflow.domain.errors import AuthenticationError, InvalidRequestError
from easyflow.domain.messaging import BotIdentity, HandoverRules, WebhookRegistration
from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformClient, PlatformSpec, RawResponse
from easyflow.platforms.credentials import CredentialField
from easyflow.platforms.registry import PlatformRegistry, platform

TOKEN = "bazaar_" + "t" * 24


class BazaarShop:
    """Marketplace and Messenger ports of one seller account (what this test needs of them)."""

    def __init__(self, client: PlatformClient) -> None:
        self._client = client

    async def identity(self) -> BotIdentity:
        me = await self._client.call("me", http_method="GET")
        return BotIdentity(str(me["id"]), me["name"], me["name"])

    async def set_webhook(self, registration: WebhookRegistration) -> None:
        await self._client.call("webhook", json={"url": registration.url})

    async def check(self) -> None:
        await self._client.call("me", http_method="GET")


def _classify(response: RawResponse) -> Any:
    if response.status == 401:
        raise AuthenticationError("token revoked", platform="bazaar", status=401)
    return response.json()


bazaar = types.ModuleType("bazaar")
bazaar.SPEC = PlatformSpec(  # type: ignore[attr-defined]
    name="bazaar",
    capabilities=(Capability.MARKETPLACE, Capability.MESSENGER),
    base_url="https://api.bazaar.example",
    auth=Auth(AuthStyle.HEADER, credential="token"),
    docs="https://bazaar.example/docs",
)
bazaar.classify = _classify  # type: ignore[attr-defined]
bazaar.CREDENTIALS = (  # type: ignore[attr-defined]
    CredentialField("token", pattern=r"bazaar_[a-z]{16,64}", expected="bazaar_…"),
)
bazaar.create_adapter = lambda client, _settings: BazaarShop(client)  # type: ignore[attr-defined]
REGISTRY = PlatformRegistry((*PlatformRegistry().definitions(), platform(bazaar)))


SHOP_AWAY = {"now": False}  # the shop's API refuses its token once the test says so


def _wire(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/me"):
        if SHOP_AWAY["now"]:
            return httpx.Response(401, json={"error": "token revoked"})
        return httpx.Response(200, json={"id": 77, "name": "bazaar_shop"})
    return httpx.Response(200, json={"ok": True, "data": []})  # webhook; OpenAI's model list


async def test_a_platform_offering_two_capabilities_is_an_operators_channel(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> None:
    settings = Settings(
        database_url=migrated_database_url,
        data_dir=tmp_path,
        secret_keys=encryption_key,
        broker_url="memory://",
    )
    hub = build_container(
        settings,
        transports={"bazaar": httpx.MockTransport(_wire), "openai": httpx.MockTransport(_wire)},
        registry=REGISTRY,
    )
    await hub.start()
    SHOP_AWAY["now"] = False
    try:
        tenant = (await hub.tenants.create("Bazaar seller")).id
        shop = await hub.integrations.add(tenant, "bazaar", {"token": TOKEN})
        assert shop.kind is Capability.MARKETPLACE  # stored under its first capability

        rules = HandoverRules(operator_integration_id=shop.id, operator_chat_id="-100200300")
        stored, _ = await hub.operators.set_rules(tenant, rules)
        assert stored.operator_integration_id == shop.id
        assert (await hub.operators.rules(tenant))[0].operator_integration_id == shop.id

        model = await hub.integrations.add(tenant, "openai", {"api_key": "sk-" + "a" * 40})
        with pytest.raises(InvalidRequestError, match="is not a messenger"):
            await hub.operators.set_rules(
                tenant, HandoverRules(operator_integration_id=model.id, operator_chat_id="1")
            )
        assert (await hub.operators.rules(tenant))[0].operator_integration_id == shop.id

        # Health probes every messenger, the marketplace with chat too (a marketplace alone
        # is judged by its sync runs, and has none that failed): one line, the worse.
        SHOP_AWAY["now"] = True
        report = await hub.health.tenant_report(tenant)
        shops = [i for i in report["integrations"] if i["platform"] == "bazaar"]
        assert [s["status"] for s in shops] == ["unhealthy"], shops
    finally:
        await hub.aclose()
