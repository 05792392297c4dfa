"""Non-text Telegram messages become attachments with their metadata; the handover texts,
the "asks for a person" reading and working hours."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from easyflow.domain.messaging import (
    MEDIA_KINDS,
    Attachment,
    HandoverRules,
    InboundKind,
    InboundMessage,
    Sender,
    WorkingHours,
)
from easyflow.platforms.telegram import parse_document
from easyflow.services import handover_texts as texts
from easyflow.storage.codecs import message_from_json, message_to_json

IVAN = {"id": 5550001, "is_bot": False, "first_name": "Ivan"}


def _parse(**content: Any) -> InboundMessage:
    base = {"message_id": 55, "date": 1790000100, "from": IVAN, "chat": {"id": 5550001}}
    [message] = parse_document({"update_id": 1, "message": {**base, **content}})
    return message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            {"voice": {"file_id": "AwAD", "duration": 7, "mime_type": "audio/ogg", "file_size": 9}},
            Attachment(
                "voice",
                {"file_id": "AwAD", "mime_type": "audio/ogg", "file_size": 9, "duration": 7},
            ),
        ),
        (
            {
                "document": {
                    "file_id": "BQAD",
                    "file_name": "invoice.pdf",
                    "mime_type": "application/pdf",
                }
            },
            Attachment(
                "document",
                {"file_id": "BQAD", "mime_type": "application/pdf", "file_name": "invoice.pdf"},
            ),
        ),
        (
            {
                "sticker": {
                    "file_id": "CAAC",
                    "emoji": "👍",
                    "is_animated": False,
                    "type": "regular",
                }
            },
            Attachment(
                "sticker",
                {"file_id": "CAAC", "emoji": "👍", "type": "regular", "is_animated": False},
            ),
        ),
        (
            {"contact": {"phone_number": "+79001234567", "first_name": "Oleg", "user_id": 42}},
            Attachment(
                "contact", {"phone_number": "+79001234567", "first_name": "Oleg", "user_id": 42}
            ),
        ),
        (
            {"animation": {"file_id": "CgAD", "duration": 2}, "document": {"file_id": "CgAD"}},
            Attachment("video", {"file_id": "CgAD", "duration": 2, "animation": True}),
        ),
        (
            {"video_note": {"file_id": "DQAD", "length": 240, "duration": 5}},
            Attachment(
                "video", {"file_id": "DQAD", "duration": 5, "length": 240, "video_note": True}
            ),
        ),
    ],
)
def test_media_become_attachments_with_their_metadata(
    content: dict[str, Any], expected: Attachment
) -> None:
    message = _parse(**content)
    assert message.attachments == (expected,)
    assert message_from_json(message_to_json(message)) == message  # stored and read back


def test_metadata_of_the_wrong_type_is_left_out_not_fatal() -> None:
    message = _parse(
        location={"latitude": "north", "longitude": float("nan"), "live_period": True},
        caption="here",
    )
    assert message.attachments == (Attachment("location", {}),)
    assert message.text == "here"
    assert _parse(photo="not a list").attachments == ()


def test_a_shared_contact_of_the_sender_still_proves_the_phone() -> None:
    message = _parse(contact={"phone_number": "79991234567", "user_id": 5550001})
    assert message.shared_phone == "79991234567"
    assert message.attachments[0].kind == "contact"


@pytest.mark.parametrize(
    "text",
    ["Can I talk to a human?", "позовите оператора", "Соедините с менеджером", "live agent pls"],
)
def test_asking_for_a_person(text: str) -> None:
    assert texts.asks_for_person(text)


@pytest.mark.parametrize("text", ["Where is my order 1001?", "Hello!", "[photo]", "Спасибо"])
def test_not_asking_for_a_person(text: str) -> None:
    assert not texts.asks_for_person(text)


def _message(text: str, language: str | None = None) -> InboundMessage:
    sender = Sender("1", "Ivan", language=language)
    return InboundMessage("1", InboundKind.MESSAGE, "1", sender, text, datetime.now(UTC))


def test_the_customers_language_from_words_then_settings() -> None:
    assert texts.language(_message("Где мой заказ?")) == "ru"
    assert texts.language(_message("Where is it?", "ru")) == "en"
    assert texts.language(_message("[photo]", "ru-RU")) == "ru"
    assert texts.language(_message("[photo]")) == "en"


HOURS = WorkingHours("Europe/Moscow", (0, 1, 2, 3, 4), time(9), time(18))


def test_working_hours_in_the_tenants_time_zone() -> None:
    monday_10_msk = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    friday_19_msk = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    assert texts.is_open(HOURS, monday_10_msk)
    assert not texts.is_open(HOURS, friday_19_msk)
    assert texts.opens_at(HOURS, friday_19_msk, "en") == "Mon 09:00 (Europe/Moscow)"
    assert texts.opens_at(HOURS, friday_19_msk, "ru") == "пн 09:00 (Europe/Moscow)"


def test_the_notice_is_the_tenants_text_or_after_hours_the_other() -> None:
    rules = HandoverRules(
        notice="Anna will answer soon.",
        after_hours_notice="Back {opens}.",
        working_hours=HOURS,
    )
    assert texts.notice(rules, "en", datetime(2026, 11, 30, 7, tzinfo=UTC)) == (
        "Anna will answer soon."
    )
    assert texts.notice(rules, "en", datetime(2026, 12, 5, 7, tzinfo=UTC)) == (
        "Back Mon 09:00 (Europe/Moscow)."
    )
    assert texts.notice(HandoverRules(), "ru", datetime(2026, 12, 5, tzinfo=UTC)).startswith(
        "Я передал ваш вопрос сотруднику"
    )


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_FIELDS = st.sampled_from(
    ["photo", "video", "voice", "audio", "document", "sticker", "contact", "location", "venue",
     "animation", "video_note", "file_id", "latitude", "duration", "file_size"]
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_FIELDS, _JSON | st.dictionaries(_FIELDS, _JSON, max_size=6), max_size=4))
def test_any_media_content_gives_attachments_never_an_exception(content: dict[str, Any]) -> None:
    message = _parse(**content)
    for attachment in message.attachments:
        assert attachment.kind in MEDIA_KINDS
        assert message_from_json(message_to_json(message)) == message
