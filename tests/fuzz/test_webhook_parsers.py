"""Fuzz of every registered webhook parser, alone: `parse(body)` on hostile bytes.

A parser's contract with the intake: it returns unified messages or raises
MalformedPayloadError (a 400 with the reason); any other exception is a 500 in production.
What it returns is well-typed, so storage and the worker never meet a wrong type.
Pure functions, no database: this suite runs the most cases.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from easyflow.domain.errors import MalformedPayloadError
from easyflow.domain.messaging import InboundKind, InboundMessage
from easyflow.platforms.registry import PlatformRegistry
from easyflow.ports import WebhookParser
from fuzz.profiles import fuzz_settings
from fuzz.strategies import body_bytes, hostile_update, json_values, telegram_update

pytestmark = pytest.mark.fuzz


def _parsers() -> list[WebhookParser]:
    registry = PlatformRegistry()
    found = (registry.get(name).webhook for name in registry.names())
    return [parser for parser in found if parser is not None]


PARSERS = {parser.platform: parser for parser in _parsers()}


def _check_parse(parser: WebhookParser, body: bytes) -> None:
    try:
        messages = parser.parse(body)
    except MalformedPayloadError:
        return
    except Exception as exc:
        raise AssertionError(
            f"{parser.platform} parser raised {type(exc).__name__} (a 500 in production, "
            f"only MalformedPayloadError is a 400) for body={body[:300]!r}: {exc}"
        ) from exc
    assert isinstance(messages, list), f"parse returned {type(messages).__name__}"
    for message in messages:
        _check_message(message, body)


def _check_message(message: InboundMessage, body: bytes) -> None:
    where = f"{message!r} from body={body[:300]!r}"
    assert isinstance(message, InboundMessage), where
    assert isinstance(message.kind, InboundKind), where
    for name in ("event_id", "chat_id", "text"):
        assert isinstance(getattr(message, name), str), f"{name} is not a str: {where}"
    assert message.event_id and message.chat_id, f"an empty event or chat id: {where}"
    assert isinstance(message.occurred_at, datetime), where
    assert message.occurred_at.tzinfo is not None, f"a naive timestamp: {where}"
    for name in ("external_id", "display_name"):
        assert isinstance(getattr(message.sender, name), str), f"sender.{name}: {where}"
    for name in ("platform_message_id", "callback_id", "callback_data"):
        value = getattr(message, name)
        assert value is None or isinstance(value, str), f"{name} is {value!r}: {where}"


@pytest.mark.parametrize("platform", sorted(PARSERS))
@fuzz_settings(examples=600)
@given(body=body_bytes(json_values) | st.binary(max_size=200))
def test_any_body(platform: str, body: bytes) -> None:
    _check_parse(PARSERS[platform], body)


@fuzz_settings(examples=1500)
@given(body=body_bytes(hostile_update()) | body_bytes(telegram_update()))
def test_telegram_hostile_update(body: bytes) -> None:
    _check_parse(PARSERS["telegram"], body)
