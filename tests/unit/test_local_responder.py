"""The local responder answers from facts only and hands over what it cannot answer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from easyflow.domain.ai import AiProfile, ChatRequest, ChatTurn, FaqEntry, GroundingFacts, Role
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


async def test_unknown_order_is_not_found_never_invented() -> None:
    reply = await _ask("Где мой заказ 999?", GroundingFacts((), ("999",)))
    assert "999" in reply.text
    assert "Не нашёл" in reply.text
    for status_word in ("передан", "доставлен", "собирается"):
        assert status_word not in reply.text


async def test_order_question_without_a_number_asks_for_it() -> None:
    assert "number" in (await _ask("where is my parcel?")).text


async def test_faq_answers_delivery_and_returns() -> None:
    assert (await _ask("How long does delivery take?")).text == "We deliver in 2-4 days."
    assert (await _ask("Как оформить возврат?")).text == "Returns are free within 14 days."


async def test_anything_else_goes_to_a_person() -> None:
    reply = await _ask("Can I pay with my grandmother's gift card in installments?")
    assert reply.text is None
    assert reply.handover
