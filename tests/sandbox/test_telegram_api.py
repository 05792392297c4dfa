"""The Bot API emulator over HTTP: paths, tokens, envelopes, methods and their error texts
(platforms/telegram.md §1.1-§1.2)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from easyflow.sandbox import ManualClock, Sandbox
from support.sandbox_client import CHAT, TOKEN, bot_call

PICKUP = {"inline_keyboard": [[{"text": "Pick up", "callback_data": "pickup:42"}]]}


def error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert body["ok"] is False and body["error_code"] == response.status_code
    return response.status_code, body["description"]


async def test_get_me_answers_the_envelope_with_the_bot_user(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/telegram/bot{TOKEN}/getMe")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["ok"] is True and set(body) == {"ok", "result"}
    assert body["result"]["id"] == 7000000001 and body["result"]["is_bot"] is True
    assert body["result"]["username"] == "hub_sandbox_bot"


@pytest.mark.parametrize(
    ("path", "status", "description"),
    [
        ("/telegram/bot123456:unknownbutwellformed/getMe", 401, "Unauthorized"),
        ("/telegram/botnot-a-token/getMe", 404, "Not Found"),
        ("/telegram/bot/getMe", 404, "Not Found"),
        (f"/telegram/bot{TOKEN}", 404, "Not Found"),
        (f"/telegram/bot{TOKEN}/getMe/extra", 404, "Not Found"),
        (f"/telegram/bot{TOKEN}/sendPigeon", 404, "Not Found: method not found"),
    ],
)
async def test_token_and_method_errors(
    client: httpx.AsyncClient, path: str, status: int, description: str
) -> None:
    assert error(await client.post(path)) == (status, description)


async def test_method_names_are_case_insensitive_and_params_come_in_any_encoding(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    base = f"/telegram/bot{TOKEN}"
    sends = [
        lambda: client.get(f"{base}/SENDMESSAGE", params={"chat_id": CHAT, "text": "q"}),
        lambda: client.post(f"{base}/sendmessage", data={"chat_id": str(CHAT), "text": "f"}),
        lambda: client.post(f"{base}/sendMessage", json={"chat_id": CHAT, "text": "j"}),
        lambda: client.post(
            f"{base}/sendMessage", data={"chat_id": str(CHAT)}, files={"text": (None, "m")}
        ),
    ]
    for send in sends:
        clock.advance(1)  # one message per second per chat
        response = await send()
        assert response.status_code == 200, response.text
    assert [m.text for m in sandbox.telegram.sent(TOKEN)] == ["q", "f", "j", "m"]


async def test_send_message_returns_the_doc_example_message(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "/start", username="ivan_demo")
    response = await bot_call(
        client,
        "sendMessage",
        chat_id=CHAT,
        text="<b>Order #42</b> is ready &amp; paid",
        parse_mode="HTML",
        reply_markup=json.dumps(PICKUP),
    )
    assert response.status_code == 200
    expected = {
        "ok": True,
        "result": {
            "message_id": 2,
            "from": {
                "id": 7000000001,
                "is_bot": True,
                "first_name": "Hub Sandbox Bot",
                "username": "hub_sandbox_bot",
            },
            "chat": {"id": CHAT, "first_name": "Ivan", "username": "ivan_demo", "type": "private"},
            "date": int(clock()),
            "text": "Order #42 is ready & paid",
            "entities": [{"offset": 0, "length": 9, "type": "bold"}],
            "reply_markup": PICKUP,
        },
    }
    assert response.content == json.dumps(expected, separators=(",", ":")).encode()
    [sent] = sandbox.telegram.sent(TOKEN, CHAT)
    assert (sent.text, sent.parse_mode, sent.source_text) == (
        "Order #42 is ready & paid",
        "HTML",
        "<b>Order #42</b> is ready &amp; paid",
    )


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"chat_id": 999, "text": "x"}, "Bad Request: chat not found"),
        ({"chat_id": "@some_channel", "text": "x"}, "Bad Request: chat not found"),
        ({"text": "x"}, "Bad Request: chat_id is empty"),
        ({"chat_id": CHAT}, "Bad Request: message text is empty"),
        ({"chat_id": CHAT, "text": "  \n"}, "Bad Request: message text is empty"),
        (
            {"chat_id": CHAT, "text": "<i></i>", "parse_mode": "HTML"},
            "Bad Request: message text is empty",
        ),
        (
            {"chat_id": CHAT, "text": "a<br>b", "parse_mode": "HTML"},
            'Bad Request: can\'t parse entities: Unsupported start tag "br" at byte offset 1',
        ),
        (
            {"chat_id": CHAT, "text": "x", "reply_markup": "{not json"},
            "Bad Request: can't parse reply keyboard markup JSON object",
        ),
    ],
)
async def test_send_message_errors(
    sandbox: Sandbox, client: httpx.AsyncClient, params: dict[str, Any], description: str
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    assert error(await bot_call(client, "sendMessage", **params)) == (400, description)
    assert sandbox.telegram.sent(TOKEN) == []


async def test_the_length_limit_counts_code_points_after_parsing(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    emoji_4096 = "😀" * 4096  # 8192 UTF-16 units, still 4096 characters
    assert (await bot_call(client, "sendMessage", chat_id=CHAT, text=emoji_4096)).is_success
    clock.advance(1)
    tagged = "<b>" + "x" * 4096 + "</b>"  # tags do not count
    ok = await bot_call(client, "sendMessage", chat_id=CHAT, text=tagged, parse_mode="HTML")
    assert ok.is_success
    too_long = await bot_call(client, "sendMessage", chat_id=CHAT, text="😀" * 4097)
    assert error(too_long) == (400, "Bad Request: message is too long")
    escaped = "&amp;" * 4097  # each entity is one character
    too_long = await bot_call(client, "sendMessage", chat_id=CHAT, text=escaped, parse_mode="HTML")
    assert error(too_long) == (400, "Bad Request: message is too long")


@pytest.mark.parametrize(
    ("data", "ok"),
    [("x" * 64, True), ("x" * 65, False), ("я" * 32, True), ("я" * 33, False), ("", False)],
)
async def test_callback_data_is_limited_in_bytes(
    sandbox: Sandbox, client: httpx.AsyncClient, data: str, ok: bool
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    markup = {"inline_keyboard": [[{"text": "B", "callback_data": data}]]}
    response = await bot_call(client, "sendMessage", chat_id=CHAT, text="t", reply_markup=markup)
    if ok:
        assert response.json()["result"]["reply_markup"] == markup
    else:
        assert error(response) == (400, "Bad Request: BUTTON_DATA_INVALID")


async def test_edit_message_text_and_not_modified(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    update = await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    sent = (
        await bot_call(
            client,
            "sendMessage",
            chat_id=CHAT,
            text="<b>v1</b>",
            parse_mode="HTML",
            reply_markup=PICKUP,
        )
    ).json()["result"]
    clock.advance(5)
    same = await bot_call(
        client,
        "editMessageText",
        chat_id=CHAT,
        message_id=sent["message_id"],
        text="<b>v1</b>",
        parse_mode="HTML",
        reply_markup=PICKUP,
    )
    assert error(same)[1].startswith(
        "Bad Request: message is not modified: specified new "
        "message content and reply markup are exactly the same"
    )
    edited = await bot_call(
        client, "editMessageText", chat_id=CHAT, message_id=sent["message_id"], text="v2"
    )
    result = edited.json()["result"]
    assert (result["text"], result["edit_date"], "reply_markup" in result) == (
        "v2",
        int(clock()),
        False,
    )
    assert sandbox.telegram.sent(TOKEN)[0].text == "v2"
    theirs = await bot_call(
        client,
        "editMessageText",
        chat_id=CHAT,
        message_id=update["message"]["message_id"],
        text="x",
    )
    assert error(theirs) == (400, "Bad Request: message can't be edited")
    missing = await bot_call(client, "editMessageText", chat_id=CHAT, message_id=99, text="x")
    assert error(missing) == (400, "Bad Request: message to edit not found")


async def test_answer_callback_query_once_and_within_the_ttl(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    sent = (
        await bot_call(client, "sendMessage", chat_id=CHAT, text="Pick?", reply_markup=PICKUP)
    ).json()["result"]
    first = await sandbox.telegram.customer_presses(TOKEN, CHAT, sent["message_id"], "pickup:42")
    query = first["callback_query"]
    assert query["data"] == "pickup:42" and query["message"]["text"] == "Pick?"
    answer = await bot_call(
        client, "answerCallbackQuery", callback_query_id=query["id"], text="Done"
    )
    assert answer.json() == {"ok": True, "result": True}
    again = await bot_call(client, "answerCallbackQuery", callback_query_id=query["id"])
    assert error(again) == (400, too_old)
    late = await sandbox.telegram.customer_presses(TOKEN, CHAT, sent["message_id"], "pickup:42")
    clock.advance(sandbox.telegram.config.callback_ttl + 1)
    expired = await bot_call(
        client, "answerCallbackQuery", callback_query_id=late["callback_query"]["id"]
    )
    assert error(expired) == (400, too_old)
    unknown = await bot_call(client, "answerCallbackQuery", callback_query_id="123")
    assert error(unknown) == (400, too_old)
    assert [(a.callback_query_id, a.text) for a in sandbox.telegram.callback_answers(TOKEN)] == [
        (query["id"], "Done")
    ]
