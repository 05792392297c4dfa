"""How the hub's facts are put in front of a language model.

Shared by every LLM adapter, so that all of them are told the same truth the same way. The
facts hold only what this customer may hear (services/order_access.py): orders linked to
them, and for any other asked number only that it is locked. The prompt tells the model what
to say about a locked number, and phone numbers in the conversation are redacted before any
turn leaves the hub.

Providers that call functions get the same facts through tools as well (`TOOLS`,
`run_tool`): the tools answer from the request alone, so a model asking about any order
number learns no more than the prompt would tell it — an order the customer has not proven
is theirs is "locked" whatever the model asks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from easyflow.domain.ai import ChatRequest, ChatTurn, GroundingFacts, PhoneCheck, Role
from easyflow.domain.commerce import Order, Product
from easyflow.domain.phones import redact_phones

HISTORY_TURNS = 10
# A reply may take this many tool round trips; then the model must answer with what it has.
MAX_TOOL_ROUNDS = 3

_LOCKED = (
    "the customer has not confirmed that this order is theirs. Say nothing about it, not even "
    "whether it exists; ask for the phone number given in the order"
)
_NOT_THEIRS = (
    "not found among the orders placed with the customer's phone number. Say so; if it was "
    "placed with another phone number, they may send that number"
)
_NO_MATCH = (
    "not found with the phone number the customer sent. Say so, and that they should check "
    "the order number and the phone number; disclose nothing else"
)
_GROUP = (
    "this is a group chat, so order details are discussed only in a private chat with the "
    "order's customer. Say so, and say nothing about the order; do not ask for a phone number"
)
_CHECK = {
    PhoneCheck.CONFIRMED: "The customer has just confirmed their phone number; thank them.",
    PhoneCheck.NO_ORDER: (
        "The customer sent a phone number but no order number: ask for the order number."
    ),
}


def describe_order(order: Order) -> str:
    parts = [f"Order {order.number}: status {order.status.value}"]
    if order.tracking_number:
        parts.append(f"tracking number {order.tracking_number}")
    if order.items:
        items = "; ".join(f"{i.name} x{i.quantity}" for i in order.items)
        parts.append(f"items: {items}")
    parts.append(f"total {order.total} {order.currency}")
    parts.append(f"last updated {order.updated_at:%Y-%m-%d %H:%M} UTC")
    return ", ".join(parts)


def describe_product(product: Product) -> str:
    return f"{product.name} (article {product.offer_id}, listed on {product.source})"


def _locked_rule(facts: GroundingFacts) -> str:
    if facts.shared_chat:
        return _GROUP
    if facts.phone_check in (PhoneCheck.CONFIRMED, PhoneCheck.MISMATCH):
        return _NO_MATCH
    return _NOT_THEIRS if facts.linked else _LOCKED


def system_prompt(request: ChatRequest) -> str:
    """The tenant's prompt plus the facts and the rules: never invent, never disclose."""
    lines = [request.profile.system_prompt.strip()]
    facts = request.facts
    if facts.orders or facts.asked_order_numbers:
        lines.append("Facts from the shop's systems (the only truth about orders):")
        lines += [f"- {describe_order(o)}" for o in facts.orders]
        lines += [f"- Order {n}: {_locked_rule(facts)}." for n in facts.locked_order_numbers]
    if facts.phone_check in _CHECK:
        lines.append(_CHECK[facts.phone_check])
    if facts.products:
        lines.append("From the shop's catalogue, products the customer's words name:")
        lines += [f"- {describe_product(p)}" for p in facts.products]
    if request.profile.faq:
        lines.append("Shop policies:")
        lines += [f"- {entry.topic}: {entry.answer}" for entry in request.profile.faq]
    lines.append(
        "Never invent an order status, date or tracking number. If the facts do not answer "
        "the question, say that a manager will reply. Share order details only as given in "
        "the facts above."
    )
    return "\n".join(lines)


def recent_turns(request: ChatRequest) -> tuple[ChatTurn, ...]:
    """The last turns of the conversation, with phone numbers redacted (personal data)."""
    turns = tuple(t for t in request.history if t.role is not Role.SYSTEM)[-HISTORY_TURNS:]
    return tuple(ChatTurn(t.role, redact_phones(t.content)) for t in turns)


@dataclass(frozen=True, slots=True)
class Tool:
    """A function a model may call; `parameters` is its JSON Schema."""

    name: str
    description: str
    parameters: Mapping[str, Any]


TOOLS = (
    Tool(
        "lookup_order",
        "Status, items and tracking number of one of the customer's orders, by its number. "
        "Orders the customer has not confirmed as theirs are not disclosed.",
        {
            "type": "object",
            "properties": {
                "order_number": {"type": "string", "description": "the order number, e.g. 1001"}
            },
            "required": ["order_number"],
        },
    ),
    Tool(
        "search_products",
        "Products in the shop's catalogue whose name or article holds the given words. "
        "Only what is listed; never promise stock, prices or delivery dates from it.",
        {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "e.g. sofa, A-1234"}},
            "required": ["query"],
        },
    ),
    Tool(
        "shop_policies",
        "The shop's policies and answers to common questions (delivery, returns, payment).",
        {
            "type": "object",
            "properties": {
                "topic": {"type": "string", "description": "e.g. delivery, returns; empty: all"}
            },
            "required": [],
        },
    ),
)


def run_tool(request: ChatRequest, name: str, arguments: Mapping[str, Any] | str) -> str:
    """The tool's answer, from the request's facts only. Bad arguments get a reason, not an
    exception: the model reads it and can try again or answer without."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError:
            return "error: the arguments are not valid JSON"
    if not isinstance(arguments, Mapping):
        return "error: the arguments must be a JSON object"
    if name == "lookup_order":
        return _lookup_order(request.facts, str(arguments.get("order_number") or "").strip())
    if name == "search_products":
        return _search_products(request.facts, str(arguments.get("query") or "").strip())
    if name == "shop_policies":
        return _policies(request, str(arguments.get("topic") or "").strip().lower())
    return f"error: there is no tool {name!r}"


def _lookup_order(facts: GroundingFacts, number: str) -> str:
    number = number.lstrip("#№ ")
    if not number:
        return "error: order_number is required"
    for order in facts.orders:
        if order.number == number:
            return describe_order(order)
    return f"Order {number}: {_locked_rule(facts)}."


def _search_products(facts: GroundingFacts, query: str) -> str:
    words = [w for w in query.lower().split() if w]
    found = [
        p
        for p in facts.products
        if not words or any(w in p.name.lower() or w in p.offer_id.lower() for w in words)
    ]
    if not found:
        return (
            f"No product matching {query!r} among the catalogue entries the customer's message "
            "names; say that a manager will reply about it."
        )
    return "\n".join(describe_product(p) for p in found)


def _policies(request: ChatRequest, topic: str) -> str:
    faq = request.profile.faq
    chosen = [e for e in faq if topic and (topic in e.topic.lower() or topic in e.keywords)]
    entries = chosen or list(faq)
    if not entries:
        return "The shop has given no policies; say that a manager will reply."
    return "\n".join(f"{e.topic}: {e.answer}" for e in entries)
