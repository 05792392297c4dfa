"""Phone numbers: how they are read from messages, compared, kept apart from order numbers,
and what a phone number proves about an order (services/order_access.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from easyflow.domain.ai import PhoneCheck
from easyflow.domain.commerce import Order, OrderStatus, extract_order_numbers
from easyflow.domain.messaging import DeliveryStatus, MessageAuthor, MessageDirection, StoredMessage
from easyflow.domain.phones import extract_phone, masked, redact_phones, same_phone
from easyflow.services.order_access import (
    Question,
    bound_guessing,
    decide,
    read_question,
    wrong_phones,
)

ON_ORDER = "+7 (900) 123-45-67"
ORDER = Order(
    "t-1", "1001", OrderStatus.SHIPPED, Decimal(1), "RUB", datetime(2026, 1, 1, tzinfo=UTC),
    customer_phone=ON_ORDER, tracking_number="RR1RU",
)  # fmt: skip


@pytest.mark.parametrize(
    "written",
    ["+7 (900) 123-45-67", "8 900 123 45 67", "89001234567", "79001234567", "9001234567",
     "+7-900-123-45-67", "8 (900) 1234567"],
)  # fmt: skip
def test_one_number_in_every_format(written: str) -> None:
    assert same_phone(written, ON_ORDER)
    assert extract_phone(f"my phone is {written}, thanks") is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("+7 900 123-45-68", ON_ORDER),  # one digit off
        ("123-45-67", ON_ORDER),  # too short to prove anything
        ("", ON_ORDER),
        (None, None),
        ("+1 900 123 45 67", "+44 900 123 45 67"),  # same national digits, other countries
    ],
)
def test_different_or_too_short_numbers_do_not_match(a: str | None, b: str | None) -> None:
    assert not same_phone(a, b)


def test_a_number_without_its_country_code_matches_the_full_one() -> None:
    assert same_phone("+1 415 555 0100", "4155550100")
    assert same_phone("+44 20 7946 0958", "2079460958")


def test_a_typed_phone_is_not_an_order_number() -> None:
    assert extract_order_numbers("+7 (900) 123-45-67") == ()
    assert extract_order_numbers("мой номер 89001234567") == ()
    assert extract_order_numbers("order 1001, my phone 8 900 123 45 67") == ("1001",)
    assert extract_order_numbers("1001 9001234567") == ("1001",)
    # Introduced as an order, a long number is an order number; dates and postings are no phone.
    assert extract_order_numbers("заказ 9001234567") == ("9001234567",)
    assert extract_order_numbers("#9001234567") == ("9001234567",)
    assert extract_order_numbers("Where is my order 1001?") == ("1001",)
    assert extract_phone("posting 0123456789-0001-1") is None
    assert extract_phone("since 2026-11-26 10:30") is None


def test_phones_are_redacted_for_third_parties_and_masked_in_logs() -> None:
    assert redact_phones("it is +7 900 123 45 67, order 1001") == "it is [phone number], order 1001"
    assert masked("+7 900 123 45 67") == "***67"
    assert "900" not in masked(ON_ORDER)


# --------------------------------------------------------------------------- order access


def _history(*texts: str) -> list[StoredMessage]:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        StoredMessage(
            i,
            1,
            1,
            MessageDirection.INBOUND if i % 2 == 0 else MessageDirection.OUTBOUND,
            MessageAuthor.CUSTOMER if i % 2 == 0 else MessageAuthor.ASSISTANT,
            text,
            DeliveryStatus.SENT,
            at,
        )
        for i, text in enumerate(texts)
    ]


def test_a_phone_answers_the_pending_question_and_an_order_number_a_phone_sent_before() -> None:
    asked = _history("Where is my order 1001?", "Please send the phone", "8 900 123 45 67")
    assert read_question(asked, None) == Question(("1001",), "89001234567")
    phone_first = _history("8 900 123 45 67", "Which order?", "order 1001")
    assert read_question(phone_first, None) == Question(("1001",), "89001234567")
    shared = _history("Where is my order 1001?", "Please send the phone", "[contact]")
    assert read_question(shared, "+79001234567") == Question(("1001",), "79001234567", True)


def test_only_a_matching_phone_makes_an_order_visible() -> None:
    unlinked = decide(Question(("1001",)), [ORDER], None)
    assert (unlinked.visible, unlinked.check) == ((), PhoneCheck.NONE)
    linked = decide(Question(("1001",)), [ORDER], "79001234567")
    assert (linked.visible, linked.proven) == ((ORDER,), None)
    right = decide(Question(("1001",), "89001234567"), [ORDER], None)
    assert (right.visible, right.check, right.proven) == (
        (ORDER,),
        PhoneCheck.CONFIRMED,
        "89001234567",
    )
    wrong = decide(Question(("1001",), "89009999999"), [ORDER], None)
    assert (wrong.visible, wrong.check, wrong.proven) == ((), PhoneCheck.MISMATCH, None)
    # A shared contact is proof by itself, even of a number on no asked order.
    vouched = decide(Question((), "79990000000", vouched=True), [], None)
    assert (vouched.check, vouched.proven) == (PhoneCheck.CONFIRMED, "79990000000")
    alone = decide(Question((), "89001234567"), [], None)
    assert (alone.check, alone.proven) == (PhoneCheck.NO_ORDER, None)


def test_the_third_distinct_wrong_phone_locks_out() -> None:
    wrong = decide(Question(("1001",), "89000000003"), [ORDER], None)
    two = _history("1001", "phone?", "89000000001", "no", "89000000001", "no", "89000000003")
    assert wrong_phones(two, None) == 2  # the same wrong number twice is one guess
    assert bound_guessing(wrong, two, None).check is PhoneCheck.MISMATCH
    three = _history("1001", "phone?", "89000000001", "no", "89000000002", "no", "89000000003")
    assert bound_guessing(wrong, three, None).check is PhoneCheck.LOCKED_OUT
    # The contact's own proven number is never a wrong guess.
    assert wrong_phones(three, "+7 900 000 00 01") == 2
