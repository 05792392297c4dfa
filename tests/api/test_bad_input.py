"""Bad input is a 4xx with a reason or, for an authenticated platform update, a recorded
failure that is acknowledged: never a 500, never a partial write. On SQLite and PostgreSQL.

The cases are the ones a fuzzing run of 60k requests turned into 500s (issue 5, finding 6).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from support.hub import CHAT, Hub

from .helpers import rows

JSON = {"Content-Type": "application/json"}
DEEP_SETTINGS = '{"a": ' * 500 + "1" + "}" * 500


@pytest.fixture
def client(hub: Hub) -> httpx.AsyncClient:
    """The hub's app, answering a 500 as a response instead of raising it into the test."""
    app = hub.http._transport.app  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=str(hub.http.base_url))


# --------------------------------------------------------------------------- admin API


@pytest.mark.parametrize("offset", [2**63, 2**64 + 5, 10**30])
async def test_an_offset_beyond_bigint_is_422(
    hub: Hub, client: httpx.AsyncClient, offset: int
) -> None:
    response = await client.get(
        "/api/v1/conversations", params={"offset": offset}, headers=hub.auth
    )
    assert response.status_code == 422


async def test_the_largest_offset_is_an_empty_page(hub: Hub, client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/conversations", params={"offset": 2**63 - 1}, headers=hub.auth
    )
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        pytest.param('{"a": NaN}', "finite", id="nan"),
        pytest.param('{"a": Infinity}', "finite", id="infinity"),
        pytest.param('{"a": -1e309}', "finite", id="overflow"),
        pytest.param('{"a": [1, 2, {"b": NaN}]}', "finite", id="nested-nan"),
        pytest.param(DEEP_SETTINGS, "nested deeper", id="500-deep"),
        pytest.param('{"a": ' * 9 + "1" + "}" * 9, "nested deeper than 8", id="9-deep"),
        pytest.param(json.dumps({"a": "x" * 20_000}), "larger than", id="20kb"),
        pytest.param('{"a": "\\ud800"}', "surrogates", id="lone-surrogate"),
    ],
)
async def test_unstorable_settings_are_422_and_nothing_is_stored(
    hub: Hub, client: httpx.AsyncClient, settings: str, reason: str
) -> None:
    token = hub.sandbox.telegram.register_bot(username="settings_bot")["token"]
    body = '{"platform": "telegram", "credentials": {"token": "%s"}, "settings": %s}'
    response = await client.post(
        "/api/v1/integrations",
        content=(body % (token, settings)).encode(),
        headers={**hub.auth, **JSON},
    )
    assert response.status_code == 422, response.text
    assert reason in json.dumps(response.json())
    assert await rows(hub, "SELECT id FROM integrations") == [(hub.integration_id,)]


@pytest.mark.parametrize("bad", ["\n", "\r\nX-Injected: 1", "\x01", "\x7f", "\x85"])
async def test_control_characters_in_credentials_are_422(
    hub: Hub, client: httpx.AsyncClient, bad: str
) -> None:
    token = hub.sandbox.telegram.register_bot(username="ctl_bot")["token"]
    response = await client.post(
        "/api/v1/integrations",
        json={"platform": "telegram", "credentials": {"token": token + bad}},
        headers=hub.auth,
    )
    assert response.status_code == 422, response.text
    assert "control characters" in response.text
    assert token not in response.text
    assert await rows(hub, "SELECT id FROM integrations") == [(hub.integration_id,)]


# --------------------------------------------------------------------------- Telegram webhook


def _message(**overrides: Any) -> dict[str, Any]:
    message = {
        "message_id": 1,
        "date": 1790000100,
        "chat": {"id": CHAT, "type": "private"},
        "from": {"id": CHAT, "first_name": "Ivan"},
        "text": "Hello!",
    }
    return {**message, **overrides}


async def _deliver(hub: Hub, client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        f"/api/v1/messaging/webhook/telegram/{hub.integration_id}",
        content=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": await hub.webhook_secret(), **JSON},
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"{not json", "not JSON", id="not-json"),
        pytest.param(b'{"update_id": 1, "x": "\xff"}', "not UTF-8", id="not-utf8"),
        pytest.param(b'{"update_id": 1, "x": "\xed\xa0\x80"}', "not UTF-8", id="raw-surrogate"),
        pytest.param(
            b'{"update_id": 1, "message": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
            "nested deeper",
            id="10k-nested-arrays",
        ),
        pytest.param(
            b'{"update_id": 1, "message": ' + b"[" * 100 + b"]" * 100 + b"}",
            "nested deeper",
            id="100-nested-arrays",
        ),
        pytest.param(b'{"update_id": 1, "x": NaN}', "not JSON", id="nan"),
        pytest.param(b'{"update_id": 1, "x": 1e309}', "out of range", id="float-overflow"),
        pytest.param(b'{"update_id": 1' + b"0" * 5000 + b"}", "not JSON", id="5000-digit-int"),
        pytest.param(b"[]", "integer update_id", id="array"),
        pytest.param(b'{"update_id": "1"}', "integer update_id", id="string-id"),
        pytest.param(b'{"update_id": true}', "integer update_id", id="bool-id"),
        pytest.param(b'{"update_id": 1e3}', "integer update_id", id="float-id"),
        pytest.param(b'{"update_id": 100000000000000000000}', "out of range", id="huge-id"),
        pytest.param(b'{"update_id": -5}', "out of range", id="negative-id"),
    ],
)
async def test_a_body_that_is_not_an_update_is_400_with_a_reason(
    hub: Hub, client: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    response = await _deliver(hub, client, body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["detail"]
    assert await hub.count("inbound_events") == 0


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        pytest.param(_message(date=1e20), "message.date", id="float-date"),
        pytest.param(_message(date=10**20), "message.date is out of range", id="huge-date"),
        pytest.param(_message(date=-1), "message.date is out of range", id="negative-date"),
        pytest.param(_message(**{"from": "x"}), "message.from is not an object", id="from-x"),
        pytest.param(_message(**{"from": {"id": "5"}}), "message.from.id", id="string-from-id"),
        pytest.param(_message(chat={"id": 2**64}), "message.chat.id is out of range", id="chat"),
        pytest.param(_message(chat=[1]), "message.chat is not an object", id="chat-array"),
        pytest.param(_message(message_id=None), "message.message_id", id="no-message-id"),
        pytest.param("x", "message is not an object", id="message-string"),
    ],
)
async def test_an_update_the_hub_cannot_process_is_stored_failed_and_acknowledged(
    hub: Hub, client: httpx.AsyncClient, message: Any, reason: str
) -> None:
    body = json.dumps({"update_id": 4242, "message": message}).encode()
    response = await _deliver(hub, client, body)
    # The platform's ack: an error answer would be retried for 24 h and block the chat.
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    await hub.settle()
    [(event_id, status, error)] = await rows(
        hub, "SELECT event_id, status, error FROM inbound_events"
    )
    assert (event_id, status) == ("4242", "failed")
    assert reason in error
    assert hub.sent() == []
    # Telegram retries only on an error answer; a redelivery anyway is no second row.
    assert (await _deliver(hub, client, body)).status_code == 200
    assert await hub.count("inbound_events") == 1


@pytest.mark.parametrize(
    "escape",
    [
        pytest.param("\\ud800", id="lone-high"),
        pytest.param("\\udfff", id="lone-low"),
        pytest.param("\\udc00\\ud800", id="reversed-pair"),
        pytest.param("\\u0000", id="nul"),
    ],
)
async def test_unstorable_characters_become_u_fffd_and_the_message_is_answered(
    hub: Hub, client: httpx.AsyncClient, escape: str
) -> None:
    await hub.customer_writes("Hi")  # the chat exists at the platform
    answered = len(hub.sent())
    body = json.dumps({"update_id": 4343, "message": _message(text="Hello!")})
    body = body.replace("Hello!", f"Hello{escape}!")
    response = await _deliver(hub, client, body.encode())
    assert response.status_code == 200
    await hub.settle()
    [(status, raw)] = await rows(
        hub, "SELECT status, raw FROM inbound_events WHERE event_id = '4343'"
    )
    assert status == "done"
    raw = raw if isinstance(raw, dict) else json.loads(raw)
    assert raw["message"]["text"].startswith("Hello\ufffd")
    texts = await rows(hub, "SELECT text FROM messages WHERE direction = 'inbound' ORDER BY id")
    assert texts[-1][0].startswith("Hello\ufffd")
    assert len(hub.sent()) == answered + 1  # answered like any other message


async def test_a_valid_surrogate_pair_is_kept(hub: Hub, client: httpx.AsyncClient) -> None:
    body = json.dumps({"update_id": 4444, "message": _message(text="Hi \U0001f600")})
    assert "\\ud83d\\ude00" in body
    assert (await _deliver(hub, client, body.encode())).status_code == 200
    await hub.settle()
    [(text,)] = await rows(hub, "SELECT text FROM messages WHERE direction = 'inbound'")
    assert text == "Hi \U0001f600"
    [(status,)] = await rows(hub, "SELECT status FROM inbound_events")
    assert status == "done"
