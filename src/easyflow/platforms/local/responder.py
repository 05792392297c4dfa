"""The local responder: an offline ChatModel that answers from the hub's own data.

It is the embedded default and the last link of every provider chain. It recognises a few
intents (greeting, order status, the tenant's FAQ, thanks) in Russian and English, answers
order questions only from `GroundingFacts`, and hands everything else to a person. It never
invents an order status, and says nothing about an order the customer may not see (one it
was not given): it asks for the phone number on the order, or says that no such order was
found with the customer's phone number — the same words whether the order is someone else's
or does not exist.
"""

from __future__ import annotations

import re
from typing import Any

from easyflow.domain.ai import (
    ChatReply,
    ChatRequest,
    ChatTurn,
    FaqEntry,
    GroundingFacts,
    PhoneCheck,
    Role,
)
from easyflow.domain.commerce import Order, OrderStatus
from easyflow.http import PlatformClient
from easyflow.platforms.local.spec import SPEC

NAME = SPEC.name
MODEL = "local-responder-1"

_GREETING = re.compile(
    r"^\s*(/start\b|привет|здравствуй|добрый\s+(день|вечер)|доброе\s+утро|hello|hi\b|hey\b|"
    r"good\s+(morning|afternoon|evening))",
    re.IGNORECASE,
)
_THANKS = re.compile(r"\b(спасибо|благодарю|thanks|thank\s+you)\b", re.IGNORECASE)
_ORDER_WORDS = re.compile(r"(заказ|посылк|order|parcel|package|track)", re.IGNORECASE)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
_MARKER = re.compile(r"\[[^\]]*\]")  # "[contact]", "[photo]": what a non-text message reads as

_STATUS = {
    "en": {
        OrderStatus.NEW: "has been received and is waiting for confirmation",
        OrderStatus.CONFIRMED: "is confirmed",
        OrderStatus.ASSEMBLING: "is being packed",
        OrderStatus.SHIPPED: "has been shipped",
        OrderStatus.DELIVERED: "has been delivered",
        OrderStatus.CANCELLED: "was cancelled",
        OrderStatus.RETURNED: "was returned",
    },
    "ru": {
        OrderStatus.NEW: "принят и ждёт подтверждения",
        OrderStatus.CONFIRMED: "подтверждён",
        OrderStatus.ASSEMBLING: "собирается",
        OrderStatus.SHIPPED: "передан в доставку",
        OrderStatus.DELIVERED: "доставлен",
        OrderStatus.CANCELLED: "отменён",
        OrderStatus.RETURNED: "возвращён",
    },
}

_TEXT = {
    "en": {
        "greeting": "Hello! I can tell you where your order is — just send its number.",
        "thanks": "You're welcome! Write any time.",
        "ask_number": "Please send me your order number and I will check its status.",
        "order": "Order {number} {status}.",
        "tracking": " Tracking number: {tracking}.",
        "confirm_phone": (
            "To keep order details private, I share them only with the customer who placed "
            "the order. Please send the phone number given in order {numbers}."
        ),
        "not_yours": (
            "I could not find order {numbers} among the orders placed with your phone number. "
            "If it was placed with another phone number, please send that number."
        ),
        "no_match": (
            "I could not find order {numbers} with this phone number. Please check the order "
            "number and the phone number."
        ),
        "confirmed": "Thank you, your phone number is confirmed.",
        "phone_needs_order": (
            "Thank you. Please also send the order number, and I will check it against this "
            "phone number."
        ),
        "locked_out": (
            "I could not confirm the phone number, so a manager will answer you here shortly."
        ),
        "private_only": (
            "I can discuss order {numbers} only in a private chat with its customer. Please "
            "write to me directly."
        ),
    },
    "ru": {
        "greeting": "Здравствуйте! Я подскажу, где ваш заказ — пришлите его номер.",
        "thanks": "Пожалуйста! Пишите, если что-то понадобится.",
        "ask_number": "Пришлите, пожалуйста, номер заказа — я проверю его статус.",
        "order": "Заказ {number} {status}.",
        "tracking": " Трек-номер: {tracking}.",
        "confirm_phone": (
            "Чтобы защитить данные покупателей, я рассказываю о заказе только тому, кто его "
            "оформил. Пришлите, пожалуйста, номер телефона, указанный в заказе {numbers}."
        ),
        "not_yours": (
            "Не нашёл заказ {numbers} среди заказов на ваш номер телефона. Если заказ оформлен "
            "на другой номер, пришлите его."
        ),
        "no_match": (
            "Не нашёл заказ {numbers} с этим номером телефона. Проверьте, пожалуйста, номер "
            "заказа и телефон."
        ),
        "confirmed": "Спасибо, номер телефона подтверждён.",
        "phone_needs_order": (
            "Спасибо. Пришлите, пожалуйста, и номер заказа — я проверю его по этому телефону."
        ),
        "locked_out": "Не удалось подтвердить номер телефона — вам скоро ответит менеджер.",
        "private_only": (
            "О заказе {numbers} я могу рассказать только его покупателю в личном чате. "
            "Напишите мне, пожалуйста, напрямую."
        ),
    },
}


def _language(turns: tuple[ChatTurn, ...]) -> str:
    """The language of the customer's latest words ("+7 900…" or "[contact]" has none)."""
    for turn in reversed(turns):
        words = _MARKER.sub("", turn.content) if turn.role is Role.USER else ""
        if _LETTER.search(words):
            return "ru" if _CYRILLIC.search(words) else "en"
    return "en"


def _order_line(order: Order, lang: str) -> str:
    text = _TEXT[lang]
    line = text["order"].format(number=order.number, status=_STATUS[lang][order.status])
    if order.tracking_number and order.status is OrderStatus.SHIPPED:
        line += text["tracking"].format(tracking=order.tracking_number)
    return line


def _locked_line(facts: GroundingFacts, lang: str) -> str | None:
    """What may be said about asked orders the customer may not see: never anything true."""
    locked = facts.locked_order_numbers
    if not locked:
        return None
    if facts.shared_chat:
        key = "private_only"
    elif facts.phone_check in (PhoneCheck.CONFIRMED, PhoneCheck.MISMATCH):
        key = "no_match"
    else:
        key = "not_yours" if facts.linked else "confirm_phone"
    return _TEXT[lang][key].format(numbers=", ".join(locked))


def _answer_orders(facts: GroundingFacts, lang: str) -> str:
    text = _TEXT[lang]
    lines = [text["confirmed"]] if facts.phone_check is PhoneCheck.CONFIRMED else []
    if facts.phone_check is PhoneCheck.NO_ORDER:
        lines.append(text["phone_needs_order"])
    lines += [
        _order_line(order, lang)
        for number in facts.asked_order_numbers
        for order in facts.orders
        if order.number == number
    ]
    locked = _locked_line(facts, lang)
    if locked:
        lines.append(locked)
    elif facts.phone_check is PhoneCheck.CONFIRMED and not facts.asked_order_numbers:
        lines.append(text["ask_number"])
    return " ".join(lines)


def _faq_answer(faq: tuple[FaqEntry, ...], text: str) -> str | None:
    lowered = text.lower()
    for entry in faq:
        if any(keyword.lower() in lowered for keyword in entry.keywords):
            return entry.answer
    return None


class LocalResponder:
    """The ChatModel port without a network."""

    name = NAME
    currency = ""  # it costs nothing

    async def check(self) -> None:
        """Nothing to check: no network, no credentials."""

    async def complete(self, request: ChatRequest) -> ChatReply:
        last = next((t.content for t in reversed(request.history) if t.role is Role.USER), "")
        lang = _language(request.history)
        if request.facts.phone_check is PhoneCheck.LOCKED_OUT:
            locked_out = _TEXT[lang]["locked_out"]
            return ChatReply(
                locked_out, NAME, MODEL, handover=True, reason="phone number not confirmed"
            )
        text = self._answer(request, last, lang)
        if text is None:
            return ChatReply(None, NAME, MODEL, handover=True, reason="no confident answer")
        return ChatReply(text, NAME, MODEL)

    def _answer(self, request: ChatRequest, last: str, lang: str) -> str | None:
        facts = request.facts
        if facts.asked_order_numbers or facts.phone_check is not PhoneCheck.NONE:
            return _answer_orders(facts, lang)
        faq = _faq_answer(request.profile.faq, last)
        if faq:
            return faq
        if _ORDER_WORDS.search(last):
            return _TEXT[lang]["ask_number"]
        if _GREETING.search(last):
            return _TEXT[lang]["greeting"]
        if _THANKS.search(last):
            return _TEXT[lang]["thanks"]
        return None


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> LocalResponder:
    """The responder; `client` is never used (it makes no calls), `settings` are not read."""
    return LocalResponder()
