"""The control API under /_sandbox (docs/sandbox.md): JSON in and out, clear 4xx errors."""

from __future__ import annotations

import re

import httpx
import pytest

from easyflow.sandbox import Sandbox
from support.sandbox_client import CHAT, KEY, TOKEN, bot_call

BOTS = "/_sandbox/telegram/bots"


async def test_index_lists_the_platforms(client: httpx.AsyncClient) -> None:
    body = (await client.get("/_sandbox")).json()
    platforms = [
        "anthropic", "openai", "ozon", "telegram", "viber", "vk", "whatsapp", "wildberries",
        "yandexgpt",
    ]  # fmt: skip
    assert {k: v for k, v in body.items() if k != "emulators"} == {
        "platforms": platforms,
        "faults": 0,
        "busy": False,
    }
    # Every emulator with its mount and the accounts a client can use right away.
    emulators = {e["platform"]: e for e in body["emulators"]}
    assert sorted(emulators) == platforms
    assert all(e["mount"] == f"/{name}" for name, e in emulators.items())
    assert {"token": TOKEN} in emulators["telegram"]["credentials"]


async def test_register_bots_with_a_generated_or_given_token(client: httpx.AsyncClient) -> None:
    generated = await client.post(BOTS, json={"username": "shop_bot"})
    assert generated.status_code == 201
    token = generated.json()["token"]
    assert re.fullmatch(r"\d+:[A-Za-z0-9_-]{35}", token)
    assert generated.json()["username"] == "shop_bot"
    given = await client.post(BOTS, json={"token": "42:given-token", "first_name": "Shop"})
    assert given.json()["id"] == 42
    listed = (await client.get(BOTS)).json()["bots"]
    assert [b["token"] for b in listed] == [TOKEN, token, "42:given-token"]
    assert (await bot_call(client, "getMe", token=token)).json()["result"]["username"] == (
        "shop_bot"
    )


@pytest.mark.parametrize(
    ("body", "status"),
    [({"token": TOKEN}, 409), ({"token": "not a token"}, 400), ({"tokn": "x"}, 422)],
)
async def test_bad_bot_registrations(
    client: httpx.AsyncClient, body: dict[str, str], status: int
) -> None:
    response = await client.post(BOTS, json=body)
    assert response.status_code == status and "detail" in response.json()


async def test_a_customer_scenario_end_to_end(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    written = await client.post(
        f"{BOTS}/{TOKEN}/messages",
        json={"chat_id": CHAT, "text": "Where is order 42?", "username": "ivan_demo"},
    )
    assert written.status_code == 201
    update = written.json()
    assert update["message"]["text"] == "Where is order 42?"
    sent = (
        await bot_call(
            client,
            "sendMessage",
            chat_id=CHAT,
            text="<i>On its way</i>",
            parse_mode="HTML",
            reply_markup={"inline_keyboard": [[{"text": "Thanks", "callback_data": "thanks"}]]},
        )
    ).json()
    pressed = await client.post(
        f"{BOTS}/{TOKEN}/callbacks",
        json={"chat_id": CHAT, "message_id": sent["result"]["message_id"], "data": "thanks"},
    )
    query_id = pressed.json()["callback_query"]["id"]
    await bot_call(client, "answerCallbackQuery", callback_query_id=query_id)
    edited = await client.post(
        f"{BOTS}/{TOKEN}/edits",
        json={
            "chat_id": CHAT,
            "message_id": update["message"]["message_id"],
            "text": "Where is 43?",
        },
    )
    assert edited.json()["edited_message"]["text"] == "Where is 43?"
    record = (await client.get(f"{BOTS}/{TOKEN}/sent", params={"chat_id": CHAT})).json()
    [message] = record["messages"]
    assert (message["text"], message["entities"], message["parse_mode"]) == (
        "On its way",
        [{"offset": 0, "length": 10, "type": "italic"}],
        "HTML",
    )
    assert [a["callback_query_id"] for a in record["callback_answers"]] == [query_id]
    pending = (await client.get(f"{BOTS}/{TOKEN}/updates")).json()
    assert [u["update_id"] for u in pending["pending"]] == [
        update["update_id"],
        update["update_id"] + 1,
        update["update_id"] + 2,
    ]
    assert (await client.get(f"{BOTS}/{TOKEN}/deliveries")).json() == {"attempts": []}


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (f"{BOTS}/1:unknown/messages", {"chat_id": CHAT, "text": "x"}, 404),
        (f"{BOTS}/{TOKEN}/messages", {"chat_id": CHAT, "text": ""}, 422),
        (f"{BOTS}/{TOKEN}/messages", {"chat_id": "abc", "text": "x"}, 422),
        (f"{BOTS}/{TOKEN}/callbacks", {"chat_id": CHAT, "message_id": 1, "data": "x"}, 404),
        (f"{BOTS}/{TOKEN}/edits", {"chat_id": CHAT, "message_id": 99, "text": "x"}, 404),
    ],
)
async def test_bad_scenario_input_gets_a_clear_4xx(
    sandbox: Sandbox, client: httpx.AsyncClient, path: str, body: dict[str, object], status: int
) -> None:
    if status == 404 and "edits" in path:
        await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    response = await client.post(path, json=body)
    assert response.status_code == status
    assert response.json()["detail"]


async def test_pressing_a_button_the_message_does_not_have_is_refused(
    sandbox: Sandbox, client: httpx.AsyncClient
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    sent = (await bot_call(client, "sendMessage", chat_id=CHAT, text="no buttons")).json()
    response = await client.post(
        f"{BOTS}/{TOKEN}/callbacks",
        json={"chat_id": CHAT, "message_id": sent["result"]["message_id"], "data": "x"},
    )
    assert response.status_code == 400
    assert "no button" in response.json()["detail"]


async def test_openai_keys_replies_and_requests(client: httpx.AsyncClient) -> None:
    assert (await client.post("/_sandbox/openai/keys", json={"key": "sk-new"})).json() == {
        "keys": sorted([KEY, "sk-new"])
    }
    queued = await client.post("/_sandbox/openai/replies", json={"replies": ["One", "Two"]})
    assert queued.json() == {"queued": 2}
    answer = await client.post(
        "/openai/v1/chat/completions",
        headers={"Authorization": "Bearer sk-new"},
        json={"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "q"}]},
    )
    assert answer.json()["choices"][0]["message"]["content"] == "One"
    [recorded] = (await client.get("/_sandbox/openai/requests")).json()["requests"]
    assert (recorded["api_key"], recorded["body"]["messages"]) == (
        "sk-new",
        [{"role": "user", "content": "q"}],
    )
    assert (await client.post("/_sandbox/openai/replies", json={"replies": []})).status_code == 422


async def test_faults_routes(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/_sandbox/faults",
        json={"platform": "telegram", "kind": "rate_limit", "retry_after": 5, "count": 2},
    )
    assert created.status_code == 201
    fault = created.json()
    assert (fault["id"], fault["remaining"], fault["hits"]) == ("fault-1", 2, 0)
    await bot_call(client, "getMe")
    listed = (await client.get("/_sandbox/faults")).json()["faults"]
    assert [(f["id"], f["remaining"], f["hits"]) for f in listed] == [("fault-1", 1, 1)]
    assert (await client.delete("/_sandbox/faults/fault-1")).json() == {"removed": 1}
    assert (await client.delete("/_sandbox/faults/fault-1")).status_code == 404
    await client.post("/_sandbox/faults", json={"platform": "openai", "kind": "latency"})
    assert (await client.delete("/_sandbox/faults")).json() == {"removed": 1}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"platform": "myspace", "kind": "http_error"}, 400),
        ({"platform": "telegram", "kind": "explode"}, 422),
        ({"platform": "telegram", "kind": "http_error", "count": 1, "rate": 0.5}, 422),
        ({"platform": "telegram", "kind": "http_error", "status": 200}, 422),
        ({"platform": "telegram", "kind": "http_error", "rate": 2}, 422),
    ],
)
async def test_bad_fault_rules_are_refused(
    client: httpx.AsyncClient, body: dict[str, object], status: int
) -> None:
    response = await client.post("/_sandbox/faults", json=body)
    assert response.status_code == status
    assert (await client.get("/_sandbox/faults")).json() == {"faults": []}


async def test_reset_returns_to_the_seeds(sandbox: Sandbox, client: httpx.AsyncClient) -> None:
    await client.post(BOTS, json={})
    await client.post(f"{BOTS}/{TOKEN}/messages", json={"chat_id": CHAT, "text": "x"})
    await client.post("/_sandbox/openai/replies", json={"replies": ["scripted"]})
    await client.post("/_sandbox/faults", json={"platform": "openai", "kind": "latency"})
    assert (await client.post("/_sandbox/reset")).json() == {"reset": True}
    assert [b["token"] for b in (await client.get(BOTS)).json()["bots"]] == [TOKEN]
    assert sandbox.telegram.pending_updates(TOKEN) == []
    assert sandbox.openai.requests() == [] and sandbox.faults.installed() == []
    assert (await client.post("/_sandbox/wait-idle", params={"timeout": 1})).json() == {
        "idle": True
    }
