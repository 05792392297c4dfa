"""The Telegram adapter's pure parts: update parsing, text splitting, response classification."""

from __future__ import annotations

import json

import pytest

from easyflow.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    MalformedPayloadError,
    RateLimitedError,
    RejectedError,
    RetryableError,
)
from easyflow.domain.messaging import InboundKind
from easyflow.http import RawResponse
from easyflow.platforms.telegram import classify, parse_update, split_text


def _body(update: dict) -> bytes:
    return json.dumps(update).encode()


def test_message_update_becomes_a_unified_message() -> None:
    update = {
        "update_id": 310000101,
        "message": {
            "message_id": 55,
            "date": 1790000100,
            "from": {"id": 5550001, "is_bot": False, "first_name": "Ivan", "username": "ivan_demo"},
            "chat": {"id": 5550001, "type": "private"},
            "text": "Where is order 1001?",
        },
    }
    [message] = parse_update(_body(update))
    assert message.event_id == "310000101"
    assert message.kind is InboundKind.MESSAGE
    assert message.chat_id == "5550001"
    assert message.sender.display_name == "Ivan"
    assert message.sender.username == "ivan_demo"
    assert message.text == "Where is order 1001?"
    assert message.platform_message_id == "55"
    assert message.occurred_at.timestamp() == 1790000100


def test_callback_query_on_an_inaccessible_message_still_names_the_chat() -> None:
    update = {
        "update_id": 7,
        "callback_query": {
            "id": "4190327751234567890",
            "from": {"id": 5550001, "first_name": "Ivan"},
            "message": {
                "message_id": 811,
                "date": 0,
                "chat": {"id": -100123, "type": "supergroup"},
            },
            "chat_instance": "-88",
            "data": "pickup:42",
        },
    }
    [message] = parse_update(_body(update))
    assert message.kind is InboundKind.CALLBACK
    assert message.chat_id == "-100123"
    assert message.callback_id == "4190327751234567890"
    assert message.text == "pickup:42"


def test_edited_message_and_non_text_messages() -> None:
    edited = {
        "update_id": 8,
        "edited_message": {
            "message_id": 55,
            "date": 1,
            "edit_date": 1790000160,
            "from": {"id": 1, "first_name": "A"},
            "chat": {"id": 1, "type": "private"},
            "text": "fixed",
        },
    }
    sticker = {
        "update_id": 9,
        "message": {
            "message_id": 56,
            "date": 1,
            "from": {"id": 1},
            "chat": {"id": 1},
            "sticker": {"file_id": "x"},
        },
    }
    assert parse_update(_body(edited))[0].kind is InboundKind.EDITED
    assert parse_update(_body(sticker))[0].text == "[sticker]"


def test_other_update_types_are_ignored() -> None:
    update = {"update_id": 10, "inline_query": {"id": "1", "from": {"id": 1}, "query": "x"}}
    assert parse_update(_body(update)) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[]", "integer update_id"),
        (b'{"update_id": "1"}', "integer update_id"),
        (b'{"update_id": 1, "message": {"text": "no chat"}}', "missing a field"),
    ],
)
def test_malformed_bodies_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayloadError, match=reason):
        parse_update(body)


def test_short_text_is_one_chunk() -> None:
    assert split_text("hello") == ["hello"]


def test_long_text_splits_at_word_boundaries_within_the_limit() -> None:
    text = ("word " * 2000).strip()  # 9,999 characters
    chunks = split_text(text)
    assert len(chunks) == 3
    assert all(len(c) <= 4096 for c in chunks)
    assert " ".join(chunks) == text


def test_astral_characters_count_as_two_utf16_units() -> None:
    text = "😀" * 3000  # 3,000 code points, 6,000 UTF-16 units
    chunks = split_text(text)
    assert all(len(c.encode("utf-16-le")) // 2 <= 4096 for c in chunks)
    assert "".join(chunks) == text


def _raw(status: int, body: dict, headers: dict | None = None) -> RawResponse:
    return RawResponse(status, headers or {}, json.dumps(body).encode())


def test_classify_success_returns_result() -> None:
    assert classify(_raw(200, {"ok": True, "result": {"message_id": 1}})) == {"message_id": 1}


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (401, "Unauthorized", AuthenticationError),
        (404, "Not Found", ConfigurationError),
        (400, "Bad Request: chat not found", RejectedError),
        (403, "Forbidden: bot was blocked by the user", RejectedError),
        (502, "Bad Gateway", RetryableError),
    ],
)
def test_classify_errors_by_status(status: int, description: str, error: type) -> None:
    body = {"ok": False, "error_code": status, "description": description}
    with pytest.raises(error, match=description.split(":")[0]):
        classify(_raw(status, body))


def test_classify_flood_control_carries_retry_after() -> None:
    body = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    with pytest.raises(RateLimitedError) as caught:
        classify(_raw(429, body))
    assert caught.value.retry_after == 7


def test_classify_non_json_gateway_error_is_retryable() -> None:
    with pytest.raises(RetryableError):
        classify(RawResponse(502, {}, b"<html>bad gateway</html>"))
