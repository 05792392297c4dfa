"""Fuzz of the webhook intake: `POST /api/v1/messaging/webhook/telegram/{id}` on the real app.

With the right secret, any body (hostile updates, arbitrary JSON, damaged bytes) gets a 2xx or
a 4xx, never a 5xx. A 2xx for an update carrying a message is a promise: its event is stored
(pending, done, or failed with a reason), never silently dropped; a 4xx stores nothing.
With a wrong or missing secret the answer is 401 and no row of any table changes.
Runs on SQLite and on PostgreSQL (the `hub` fixture), with the worker processing what is stored.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import text

from fuzz.oracle import Target, assert_not_server_error, changed, describe, snapshot
from fuzz.profiles import fuzz_settings
from fuzz.strategies import (
    body_bytes,
    encode,
    hostile_update,
    json_values,
    nested,
    telegram_update,
    to_bytes,
)
from support.hub import Hub

pytestmark = pytest.mark.fuzz

HEADER = "X-Telegram-Bot-Api-Secret-Token"
HANDLED = ("message", "edited_message", "callback_query")  # update types the hub processes


def _real(**message: Any) -> bytes:
    base = {"message_id": 7, "date": 1_700_000_000, "chat": {"id": 42, "type": "private"}}
    base.update(message)
    return to_bytes(encode({"update_id": 900_001, "message": base}))


# The 500s and silent losses of issue 5 (and their neighbours), always run in the short form.
ISSUE_5 = {
    "date-1e20": _real(date=1e20, text="hi"),
    "date-1e309": b'{"update_id": 900004, "message": {"message_id": 1, "date": 1e309, '
    b'"chat": {"id": 1}, "text": "hi"}}',
    "from-string": _real(**{"from": "x"}, text="hi"),
    "text-10000-nested-arrays": _real(text=nested(10_000)),
    "message-10000-nested-arrays": b'{"update_id": 900002, "message": '
    + nested(10_000).text.encode()
    + b"}",
    "lone-surrogate-escaped": _real(text="\ud800"),
    "lone-surrogate-raw-bytes": to_bytes(
        encode(
            {
                "update_id": 900_003,
                "message": {"message_id": 1, "date": 1, "chat": {"id": 42}, "text": "\ud800"},
            },
            ascii_only=False,
        )
    ),
    "text-nan": _real(text=float("nan")),
    "text-nul": _real(text="a\x00b"),
    "chat-id-300-chars": _real(chat={"id": "x" * 300}, text="long chat id"),
    "invalid-utf8": b'{"update_id": 900005, "message": {"message_id": 1, "date": 1, '
    b'"chat": {"id": 1}, "text": "\xff\xfe"}}',
    "empty": b"",
    "null": b"null",
    "raw-nul": b"\x00",
    "ignored-type": to_bytes(encode({"update_id": 900_010, "channel_post": {"text": "x"}})),
}

bodies = st.one_of(
    body_bytes(hostile_update()),
    body_bytes(telegram_update()),
    body_bytes(json_values),
)


async def _post(hub: Hub, body: bytes, headers: dict[str, str], path: str) -> httpx.Response:
    try:
        return await hub.http.post(path, content=body, headers=headers)
    except Exception as exc:  # the app raised: the ASGI server would have answered 500
        raise AssertionError(
            f"unhandled {type(exc).__name__} (a 500) for POST {path} body={body[:300]!r}: {exc}"
        ) from exc


def _update_of(body: bytes) -> dict[str, Any] | None:
    try:
        update = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return update if isinstance(update, dict) else None


async def _events(hub: Hub) -> list[tuple[Any, ...]]:
    async with hub.container.engine.connect() as conn:
        result = await conn.execute(
            text("SELECT id, event_id, status, error FROM inbound_events ORDER BY id")
        )
        return [tuple(row) for row in result]


@pytest.fixture
async def secret(hub: Hub) -> str:
    return await hub.webhook_secret()


def _outcome(label: str) -> None:
    if currently_in_test_context():  # the parametrized cases run outside Hypothesis
        event(label)  # tallied by --hypothesis-show-statistics


async def _authenticated(hub: Hub, secret: str, body: bytes) -> None:
    path = f"/api/v1/messaging/webhook/telegram/{hub.integration_id}"
    before, events_before = await snapshot(hub.container.engine), await _events(hub)
    response = await _post(hub, body, {HEADER: secret, "Content-Type": "application/json"}, path)
    assert_not_server_error(response, body)
    await hub.settle()
    after, events = await snapshot(hub.container.engine), await _events(hub)
    grew = len(events) - len(events_before)
    if response.status_code >= 400:
        _outcome(f"{response.status_code}")
        # The worker may still finish earlier events, but a rejected body adds no row.
        assert after["inbound_events"] == before["inbound_events"], (
            "a rejected update stored an event: " + describe(response, body)
        )
        return
    update = _update_of(body)
    if update is not None and any(kind in update for kind in HANDLED):
        event_id = str(update.get("update_id"))
        duplicate = any(e[1] == event_id for e in events_before)
        _outcome("2xx, stored" if grew else "2xx, a duplicate" if duplicate else "2xx, LOST")
        stored = grew > 0 or duplicate
        assert stored, "acknowledged (2xx) but not stored, so silently lost: " + describe(
            response, body
        )
    else:
        _outcome("2xx, an update type the hub ignores")
    for row in events:
        assert row[2] != "failed" or row[3], (
            f"event {row[:3]} failed without a reason (after {describe(response, body)})"
        )
    assert set(changed(before, after)) <= {
        "inbound_events",
        "contacts",
        "conversations",
        "messages",
        "outbox",
        "outbox_attempts",  # the reply's delivery history
        "ai_usage",
        "operator_events",  # a handover tells the operators
    }, "an update changed tables the intake never writes: " + describe(response, body)


@fuzz_settings(examples=250)
@given(body=bodies)
async def test_authenticated_update_is_stored_or_rejected(
    target: Target, secret: str, body: bytes
) -> None:
    hub = target.hub
    await _authenticated(hub, secret, body)


@pytest.mark.parametrize("body", list(ISSUE_5.values()), ids=list(ISSUE_5))
async def test_issue_5_update(target: Target, secret: str, body: bytes) -> None:
    hub = target.hub
    await _authenticated(hub, secret, body)


_wrong_secret = st.one_of(
    st.none(),
    st.just(""),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80),
)


@fuzz_settings(examples=120)
@given(
    body=st.one_of(body_bytes(telegram_update()), body_bytes(hostile_update())),
    wrong=_wrong_secret,
    tweak=st.sampled_from(["other", "prefix", "suffix", "case", "flip"]),
    single_channel=st.booleans(),
)
async def test_wrong_or_missing_secret_is_401_and_stores_nothing(
    target: Target, secret: str, body: bytes, wrong: str | None, tweak: str, single_channel: bool
) -> None:
    hub = target.hub
    if wrong is not None and tweak != "other":  # near misses of the real secret
        wrong = {
            "prefix": secret[:-1],
            "suffix": secret + "x",
            "case": secret.swapcase(),
            "flip": secret[:-1] + ("A" if secret[-1] != "A" else "B"),
        }[tweak]
    if wrong == secret:
        wrong = secret + "!"
    headers = {"Content-Type": "application/json"}
    if wrong is not None:
        headers[HEADER] = wrong
    path = "/api/v1/messaging/webhook/telegram"
    if not single_channel:
        path += f"/{hub.integration_id}"
    before = await snapshot(hub.container.engine)
    response = await _post(hub, body, headers, path)
    after = await snapshot(hub.container.engine)
    assert response.status_code == 401, "a wrong secret must get 401: " + describe(response, body)
    assert not changed(before, after), (
        f"rows changed {changed(before, after)} for an unauthenticated webhook: "
        + describe(response, body)
    )


@fuzz_settings(examples=40)
@given(body=bodies, integration_id=st.integers(min_value=1, max_value=2**63 - 1))
async def test_right_secret_for_another_integration_is_401(
    target: Target, secret: str, body: bytes, integration_id: int
) -> None:
    hub = target.hub
    if integration_id == hub.integration_id:
        integration_id = 2**63 - 1
    before = await snapshot(hub.container.engine)
    path = f"/api/v1/messaging/webhook/telegram/{integration_id}"
    response = await _post(hub, body, {HEADER: secret}, path)
    assert response.status_code == 401, describe(response, body)
    assert not changed(before, await snapshot(hub.container.engine)), describe(response, body)
