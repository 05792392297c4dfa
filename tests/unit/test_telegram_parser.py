"""The Telegram update parser: typed and tolerant, whatever an authenticated sender puts in.

Only two errors may come out of it, with a reason: MalformedPayloadError for a body that is
not an Update (a 400), UnprocessableEventError for an Update whose content the hub cannot
process (stored as failed, acknowledged). Never a KeyError, TypeError or OverflowError.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easyflow.domain.errors import MalformedPayloadError
from easyflow.domain.messaging import InboundKind
from easyflow.platforms.telegram import TelegramWebhook, parse_document, parse_update
from easyflow.webhooks.payloads import MAX_DEPTH, UnprocessableEventError, decode_json

IVAN = {"id": 5550001, "is_bot": False, "first_name": "Ivan", "last_name": "P"}


def _update(**message: Any) -> dict[str, Any]:
    base = {"message_id": 55, "date": 1790000100, "from": IVAN, "chat": {"id": 5550001}}
    return {"update_id": 310000101, "message": {**base, **message}}


def _contact(user_id: int | None, phone: str = "79991234567") -> dict[str, Any]:
    contact: dict[str, Any] = {"phone_number": phone, "first_name": "Ivan"}
    if user_id is not None:
        contact["user_id"] = user_id
    return contact


# --------------------------------------------------------------------------- shared phone


def test_a_contact_of_the_sender_sets_shared_phone() -> None:
    [message] = parse_document(_update(contact=_contact(5550001)))
    assert message.shared_phone == "79991234567"
    assert message.text == "[contact]"
    [plus] = parse_document(_update(contact=_contact(5550001, "+7 999 123 45 67".replace(" ", ""))))
    assert plus.shared_phone == "+79991234567"


@pytest.mark.parametrize(
    "contact",
    [
        pytest.param(_contact(123), id="someone-else"),
        pytest.param(_contact(None), id="no-user-id"),
        pytest.param(_contact(5550001, "call me"), id="not-a-number"),
        pytest.param({"user_id": 5550001}, id="no-phone"),
        pytest.param({"user_id": "5550001", "phone_number": "79991234567"}, id="string-id"),
        pytest.param("79991234567", id="not-an-object"),
    ],
)
def test_other_contacts_prove_nothing(contact: Any) -> None:
    [message] = parse_document(_update(contact=contact))
    assert message.shared_phone is None


def test_a_contact_without_a_sender_proves_nothing() -> None:
    update = _update(contact=_contact(5550001))
    del update["message"]["from"]  # a channel post: the chat speaks
    [message] = parse_document(update)
    assert message.shared_phone is None
    assert message.sender.external_id == "5550001"


# --------------------------------------------------------------------------- tolerance


def test_display_fields_of_the_wrong_type_are_ignored() -> None:
    user = {"id": 7, "first_name": ["x"], "last_name": 5, "username": {}, "language_code": 1}
    [message] = parse_document(_update(**{"from": user, "text": 12, "caption": "a photo"}))
    assert message.sender.external_id == "7"
    assert message.sender.display_name == ""
    assert message.sender.username is None and message.sender.language is None
    assert message.text == "a photo"


def test_dates_and_edit_dates() -> None:
    [message] = parse_document(_update(date=1790000100))
    assert message.occurred_at == datetime.fromtimestamp(1790000100, UTC)
    edited = {"update_id": 2, "edited_message": {**_update()["message"], "edit_date": 1790000160}}
    [edit] = parse_document(edited)
    assert edit.kind is InboundKind.EDITED
    assert edit.occurred_at == datetime.fromtimestamp(1790000160, UTC)
    [inaccessible] = parse_document(_update(date=0))  # InaccessibleMessage: date 0
    assert inaccessible.occurred_at.year >= 2026


def test_callbacks_from_an_inaccessible_or_inline_message() -> None:
    query = {"id": "419", "from": IVAN, "data": "pickup:42", "message": {"chat": {"id": -100}}}
    [old] = parse_document({"update_id": 3, "callback_query": query})
    assert (old.chat_id, old.platform_message_id, old.callback_data) == ("-100", None, "pickup:42")
    inline = {"id": "420", "from": IVAN, "inline_message_id": "abc"}
    [answer] = parse_document({"update_id": 4, "callback_query": inline})
    assert answer.chat_id == "5550001" and answer.text == ""


@pytest.mark.parametrize(
    ("update", "reason"),
    [
        ({"update_id": 1, "message": {"text": "no chat"}}, "missing a field: message.chat"),
        (_update(date=1e20), "message.date is not an integer"),
        (_update(date=10**20), "message.date is out of range"),
        (_update(**{"from": "x"}), "message.from is not an object"),
        (_update(**{"from": {"first_name": "no id"}}), "missing a field: message.from.id"),
        (_update(chat={"id": True}), "message.chat.id is not an integer"),
        ({"update_id": 5, "callback_query": {"id": 7, "from": IVAN}}, "callback_query.id"),
        ({"update_id": 5, "callback_query": {"id": "7"}}, "callback_query.from"),
        ({"update_id": 5, "edited_message": []}, "edited_message is not an object"),
    ],
)
def test_unprocessable_content_says_why_and_keeps_the_event_id(
    update: dict[str, Any], reason: str
) -> None:
    with pytest.raises(UnprocessableEventError, match=reason) as caught:
        parse_document(update)
    assert caught.value.event_id == str(update["update_id"])


def test_an_unprocessable_update_keeps_its_chat_when_it_can_be_read() -> None:
    with pytest.raises(UnprocessableEventError) as caught:
        parse_document(_update(date="yesterday"))
    assert caught.value.conversation_key == "5550001"


def test_update_types_the_hub_does_not_subscribe_to_are_ignored() -> None:
    assert parse_document({"update_id": 9, "my_chat_member": {"chat": "anything"}}) == []


# --------------------------------------------------------------------------- the body


def test_the_port_and_the_bytes_entry_point_agree() -> None:
    body = json.dumps(_update(text="hi")).encode()
    assert TelegramWebhook().parse(body) == parse_update(body)
    assert TelegramWebhook().parse_document(decode_json(body))[0].text == "hi"


def test_depth_is_bounded_whatever_the_bracket_count() -> None:
    ok = {"update_id": 1, "x": [[[]]] * 100}  # many brackets, shallow
    assert decode_json(json.dumps(ok).encode()) == ok
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    with pytest.raises(MalformedPayloadError, match="nested deeper"):
        decode_json(deep.encode())
    assert decode_json(("[" * MAX_DEPTH + "]" * MAX_DEPTH).encode()) is not None


def test_lone_surrogates_and_nul_in_keys_and_values_are_replaced() -> None:
    body = b'{"k\\ud800": ["\\u0000", "\\udbff\\udfff", "a\\\\ud800"]}'
    assert decode_json(body) == {"k\ufffd": ["\ufffd", "\U0010ffff", "a\\ud800"]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["message_id", "date", "edit_date", "from", "chat", "text", "caption", "contact", "id"]
)
messages = st.dictionaries(field_names, json_values, max_size=8)
updates = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=-(2**70), max_value=2**70) | json_values},
    optional={
        "message": messages | json_values,
        "edited_message": messages,
        "callback_query": st.dictionaries(
            st.sampled_from(["id", "from", "message", "data"]), json_values | messages
        ),
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(updates)
def test_any_update_gives_messages_or_a_reason(update: dict[str, Any]) -> None:
    try:
        body = json.dumps(update).encode()
    except ValueError:
        return  # NaN: not JSON
    try:
        parse_update(body)
    except MalformedPayloadError as exc:
        assert str(exc)
