"""How the hub's facts are put in front of a language model.

Shared by every LLM adapter, so that all of them are told the same truth the same way.
"""

from __future__ import annotations

from easyflow.domain.ai import ChatRequest, ChatTurn, Role
from easyflow.domain.commerce import Order

HISTORY_TURNS = 10


def describe_order(order: Order) -> str:
    parts = [f"Order {order.number}: status {order.status.value}"]
    if order.tracking_number:
        parts.append(f"tracking number {order.tracking_number}")
    parts.append(f"total {order.total} {order.currency}")
    parts.append(f"last updated {order.updated_at:%Y-%m-%d %H:%M} UTC")
    return ", ".join(parts)


def system_prompt(request: ChatRequest) -> str:
    """The tenant's prompt plus the facts and the rule never to invent an order status."""
    lines = [request.profile.system_prompt.strip()]
    facts = request.facts
    known = {o.number for o in facts.orders}
    if facts.orders or facts.asked_order_numbers:
        lines.append("Facts from the shop's systems (the only truth about orders):")
        lines += [f"- {describe_order(o)}" for o in facts.orders]
        lines += [
            f"- Order {n}: not found in the shop's systems"
            for n in facts.asked_order_numbers
            if n not in known
        ]
    if request.profile.faq:
        lines.append("Shop policies:")
        lines += [f"- {entry.topic}: {entry.answer}" for entry in request.profile.faq]
    lines.append(
        "Never invent an order status, date or tracking number. If the facts do not answer "
        "the question, say that a manager will reply."
    )
    return "\n".join(lines)


def recent_turns(request: ChatRequest) -> tuple[ChatTurn, ...]:
    return tuple(t for t in request.history if t.role is not Role.SYSTEM)[-HISTORY_TURNS:]
