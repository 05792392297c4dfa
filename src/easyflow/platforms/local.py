"""The local responder: an offline ChatModel that answers from the hub's own data.

It is the embedded default and the last link of every provider chain. It recognises a few
intents (greeting, order status, the tenant's FAQ, thanks) in Russian and English, answers
order questions only from `GroundingFacts`, and hands everything else to a person. It never
invents an order status: an order it was not given is "not found", never "on its way".
"""

from __future__ import annotations

import re

from easyflow.domain.ai import ChatReply, ChatRequest, FaqEntry, GroundingFacts, Role
from easyflow.domain.commerce import Order, OrderStatus

NAME = "local"
MODEL = "local-responder-1"

_GREETING = re.compile(
    r"^\s*(/start\b|привет|здравствуй|добрый\s+(день|вечер)|доброе\s+утро|hello|hi\b|hey\b|"
    r"good\s+(morning|afternoon|evening))",
    re.IGNORECASE,
)
_THANKS = re.compile(r"\b(спасибо|благодарю|thanks|thank\s+you)\b", re.IGNORECASE)
_ORDER_WORDS = re.compile(r"(заказ|посылк|order|parcel|package|track)", re.IGNORECASE)
_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)

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
        "not_found": "I could not find order {number}. Please check the number.",
    },
    "ru": {
        "greeting": "Здравствуйте! Я подскажу, где ваш заказ — пришлите его номер.",
        "thanks": "Пожалуйста! Пишите, если что-то понадобится.",
        "ask_number": "Пришлите, пожалуйста, номер заказа — я проверю его статус.",
        "order": "Заказ {number} {status}.",
        "tracking": " Трек-номер: {tracking}.",
        "not_found": "Не нашёл заказ {number}. Проверьте, пожалуйста, номер.",
    },
}


def _language(text: str) -> str:
    return "ru" if _CYRILLIC.search(text) else "en"


def _order_line(order: Order, lang: str) -> str:
    text = _TEXT[lang]
    line = text["order"].format(number=order.number, status=_STATUS[lang][order.status])
    if order.tracking_number and order.status is OrderStatus.SHIPPED:
        line += text["tracking"].format(tracking=order.tracking_number)
    return line


def _answer_orders(facts: GroundingFacts, lang: str) -> str:
    by_number = {o.number: o for o in facts.orders}
    lines = []
    for number in facts.asked_order_numbers:
        order = by_number.get(number)
        lines.append(
            _order_line(order, lang) if order else _TEXT[lang]["not_found"].format(number=number)
        )
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

    async def check(self) -> None:
        """Nothing to check: no network, no credentials."""

    async def complete(self, request: ChatRequest) -> ChatReply:
        last = next((t.content for t in reversed(request.history) if t.role is Role.USER), "")
        lang = _language(last)
        text = self._answer(request, last, lang)
        if text is None:
            return ChatReply(None, NAME, MODEL, handover=True, reason="no confident answer")
        return ChatReply(text, NAME, MODEL)

    def _answer(self, request: ChatRequest, last: str, lang: str) -> str | None:
        if request.facts.asked_order_numbers:
            return _answer_orders(request.facts, lang)
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


def create_adapter() -> LocalResponder:
    return LocalResponder()
