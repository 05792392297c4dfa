"""setWebhook / getWebhookInfo / deleteWebhook / getUpdates semantics
(platforms/telegram.md §1.2, §1.7)."""

from __future__ import annotations

import httpx
import pytest

from easyflow.sandbox import ManualClock, Sandbox
from support.sandbox_client import CHAT, TOKEN, SandboxFactory, bot_call


async def test_set_webhook_round_trip_and_its_descriptions(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    first = await bot_call(
        client,
        "setWebhook",
        url="http://127.0.0.1:9/hook",
        secret_token="s3cr3t_-A",
        max_connections=5,
        allowed_updates=["message"],
    )
    assert first.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    again = await bot_call(
        client,
        "setWebhook",
        url="http://127.0.0.1:9/hook",
        secret_token="s3cr3t_-A",
        max_connections=5,
    )
    assert again.json()["description"] == "Webhook is already set"
    info = (await bot_call(client, "getWebhookInfo")).json()["result"]
    assert info == {
        "url": "http://127.0.0.1:9/hook",
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 5,
        "allowed_updates": ["message"],
    }
    deleted = await bot_call(client, "deleteWebhook")
    assert deleted.json()["description"] == "Webhook was deleted"
    assert (await bot_call(client, "deleteWebhook")).json()["description"] == (
        "Webhook is already deleted"
    )


async def test_set_webhook_more_than_once_a_second_is_429(
    client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await bot_call(client, "setWebhook", url="http://localhost/a")
    response = await bot_call(client, "setWebhook", url="http://localhost/b")
    assert response.status_code == 429
    assert response.json()["parameters"] == {"retry_after": 1}
    clock.advance(1)
    assert (await bot_call(client, "setWebhook", url="http://localhost/b")).is_success


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"secret_token": "x" * 257}, "Bad Request: secret token is too long"),
        ({"secret_token": "no spaces"}, "Bad Request: secret token contains unallowed characters"),
        (
            {"url": "http://hub.example.org/hook"},
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        ),
        (
            {"url": "https://hub.example.org:8000/hook"},
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
        (
            {"url": "ftp://hub.example.org/"},
            "Bad Request: bad webhook: invalid webhook URL specified",
        ),
    ],
)
async def test_set_webhook_validation(
    client: httpx.AsyncClient, params: dict[str, str], description: str
) -> None:
    response = await bot_call(
        client, "setWebhook", **{"url": "https://hub.example.org/h", **params}
    )
    assert (response.status_code, response.json()["description"]) == (400, description)


async def test_strict_mode_rejects_plain_http_even_on_loopback(
    make_sandbox: SandboxFactory,
) -> None:
    sandbox = make_sandbox(strict_webhook_urls=True)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(sandbox), base_url="http://sandbox"
    ) as client:
        loopback = await bot_call(client, "setWebhook", url="http://127.0.0.1:8000/hook")
        assert loopback.json()["description"] == (
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
        )
        https = await bot_call(client, "setWebhook", url="https://hub.example.org:8443/hook")
        assert https.is_success


async def test_get_updates_offsets_confirm_updates(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    ids = [
        (await sandbox.telegram.customer_writes(TOKEN, CHAT, f"m{i}"))["update_id"]
        for i in range(4)
    ]
    everything = (await bot_call(client, "getUpdates")).json()["result"]
    assert [u["update_id"] for u in everything] == ids
    assert [u["message"]["text"] for u in everything] == ["m0", "m1", "m2", "m3"]
    limited = (await bot_call(client, "getUpdates", limit=1)).json()["result"]
    assert [u["update_id"] for u in limited] == ids[:1]
    confirmed = (await bot_call(client, "getUpdates", offset=ids[1] + 1)).json()["result"]
    assert [u["update_id"] for u in confirmed] == ids[2:]
    last = (await bot_call(client, "getUpdates", offset=-1)).json()["result"]
    assert [u["update_id"] for u in last] == ids[3:]
    assert sandbox.telegram.pending_updates(TOKEN) == last


async def test_get_updates_conflicts_with_a_webhook(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await bot_call(client, "setWebhook", url="http://127.0.0.1:9/hook")
    response = await bot_call(client, "getUpdates")
    assert (response.status_code, response.json()["description"]) == (
        409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook "
        "to delete the webhook first",
    )


async def test_allowed_updates_filter_new_updates_and_omission_keeps_it(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    telegram = sandbox.telegram
    await bot_call(client, "getUpdates", allowed_updates=["callback_query"])
    await telegram.customer_writes(TOKEN, CHAT, "filtered out")
    await bot_call(client, "getUpdates")  # omitted: the filter stays
    await telegram.customer_writes(TOKEN, CHAT, "still filtered")
    assert telegram.pending_updates(TOKEN) == []
    await bot_call(client, "getUpdates", allowed_updates=[])  # [] = the default types
    kept = await telegram.customer_writes(TOKEN, CHAT, "kept")
    assert telegram.pending_updates(TOKEN) == [kept]


async def test_drop_pending_updates(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "old")
    await bot_call(client, "deleteWebhook", drop_pending_updates=True)
    assert (await bot_call(client, "getUpdates")).json()["result"] == []
    assert (await bot_call(client, "getWebhookInfo")).json()["result"]["pending_update_count"] == 0


async def test_customer_actions_produce_the_doc_update_shapes(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    telegram = sandbox.telegram
    first = await telegram.customer_writes(
        TOKEN, CHAT, "/start promo", username="ivan_demo", language_code="ru"
    )
    message = first["message"]
    assert message["from"] == {
        "id": CHAT,
        "is_bot": False,
        "first_name": "Ivan",
        "username": "ivan_demo",
        "language_code": "ru",
    }
    assert message["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    edited = await telegram.customer_edits(TOKEN, CHAT, message["message_id"], "/start promo2")
    assert edited["update_id"] == first["update_id"] + 1
    assert edited["edited_message"]["text"] == "/start promo2"
    assert "edit_date" in edited["edited_message"]
    group = await telegram.customer_writes(TOKEN, -100123, "hello group", user_id=42)
    assert group["message"]["chat"]["type"] == "supergroup"
    assert group["message"]["from"]["id"] == 42
