"""The local responder answers from facts only and hands over what it cannot answer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from easyflow.domain.ai import (
    AiProfile,
    ChatRequest,
    ChatTurn,
    FaqEntry,
    GroundingFacts,
    PhoneCheck,
    Role,
)
from easyflow.domain.commerce import Order, OrderStatus
from easyflow.platforms.local import LocalResponder

PROFILE = AiProfile(
    faq=(
        FaqEntry("delivery", ("delivery", "доставк", "ship"), "We deliver in 2-4 days."),
        FaqEntry("returns", ("return", "возврат"), "Returns are free within 14 days."),
    )
)
ORDER = Order(
    external_id="wb-1001",
    number="1001",
    status=OrderStatus.SHIPPED,
    total=Decimal("1500"),
    currency="RUB",
    updated_at=datetime(2026, 11, 20, tzinfo=UTC),
    tracking_number="RR123RU",
)


async def _ask(text: str, facts: GroundingFacts | None = None):
    request = ChatRequest(PROFILE, (ChatTurn(Role.USER, text),), facts or GroundingFacts())
    return await LocalResponder().complete(request)


async def test_greeting_in_russian_and_english() -> None:
    assert "order" in (await _ask("Hello!")).text.lower()
    assert "заказ" in (await _ask("Привет")).text


async def test_order_status_comes_from_the_facts() -> None:
    reply = await _ask("Where is my order 1001?", GroundingFacts((ORDER,), ("1001",)))
    assert reply.text == "Order 1001 has been shipped. Tracking number: RR123RU."
    assert not reply.handover


async def test_an_order_not_given_is_never_described_only_asked_about() -> None:
    # Someone else's order and an unknown one read the same: nothing but a request for proof.
    reply = await _ask("Где мой заказ 999?", GroundingFacts((), ("999",)))
    assert "999" in reply.text
    assert "номер телефона, указанный в заказе 999" in reply.text
    for status_word in ("передан", "доставлен", "собирается", "Не нашёл"):
        assert status_word not in reply.text


async def test_a_linked_customer_hears_an_unknown_order_is_not_among_theirs() -> None:
    facts = GroundingFacts((), ("999",), linked=True)
    reply = await _ask("Где мой заказ 999?", facts)
    assert reply.text.startswith("Не нашёл заказ 999 среди заказов на ваш номер телефона.")


async def test_a_confirmed_phone_answers_the_pending_question_in_its_language() -> None:
    turns = (
        ChatTurn(Role.USER, "Where is my order 1001? And 1005?"),
        ChatTurn(Role.ASSISTANT, "Please send the phone number given in order 1001, 1005."),
        ChatTurn(Role.USER, "+7 900 123-45-67"),
    )
    facts = GroundingFacts((ORDER,), ("1001", "1005"), PhoneCheck.CONFIRMED)
    reply = await LocalResponder().complete(ChatRequest(PROFILE, turns, facts))
    assert reply.text == (
        "Thank you, your phone number is confirmed. "
        "Order 1001 has been shipped. Tracking number: RR123RU. "
        "I could not find order 1005 with this phone number. "
        "Please check the order number and the phone number."
    )


async def test_a_wrong_phone_discloses_nothing_and_the_last_one_hands_over() -> None:
    facts = GroundingFacts((), ("1001",), PhoneCheck.MISMATCH)
    reply = await _ask("89001112233", facts)
    assert reply.text.startswith("I could not find order 1001 with this phone number.")
    assert "shipped" not in reply.text
    reply = await _ask("89001112233", GroundingFacts((), ("1001",), PhoneCheck.LOCKED_OUT))
    assert reply.handover
    assert "RR123RU" not in (reply.text or "")


async def test_a_phone_without_an_order_question_asks_for_the_order_number() -> None:
    reply = await _ask("89001234567", GroundingFacts(phone_check=PhoneCheck.NO_ORDER))
    assert "order number" in reply.text
    shared = await _ask("[contact]", GroundingFacts(phone_check=PhoneCheck.CONFIRMED, linked=True))
    assert shared.text == (
        "Thank you, your phone number is confirmed. "
        "Please send me your order number and I will check its status."
    )


async def test_order_question_without_a_number_asks_for_it() -> None:
    assert "number" in (await _ask("where is my parcel?")).text


async def test_faq_answers_delivery_and_returns() -> None:
    assert (await _ask("How long does delivery take?")).text == "We deliver in 2-4 days."
    assert (await _ask("Как оформить возврат?")).text == "Returns are free within 14 days."


async def test_anything_else_goes_to_a_person() -> None:
    reply = await _ask("Can I pay with my grandmother's gift card in installments?")
    assert reply.text is None
    assert reply.handover
