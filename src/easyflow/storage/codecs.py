"""JSON shapes of the domain values kept in JSON columns, and back.

The shapes are part of the schema: change them only with a migration that rewrites old rows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from easyflow.domain.ai import AiProfile, FaqEntry
from easyflow.domain.commerce import OrderItem
from easyflow.domain.messaging import Attachment, InboundKind, InboundMessage, Sender

CENT = Decimal("0.01")


def profile_to_json(profile: AiProfile) -> dict[str, Any]:
    return {
        "system_prompt": profile.system_prompt,
        "faq": [
            {"topic": f.topic, "keywords": list(f.keywords), "answer": f.answer}
            for f in profile.faq
        ],
        "providers": list(profile.providers),
    }


def profile_from_json(data: dict[str, Any]) -> AiProfile:
    faq = tuple(
        FaqEntry(topic=f["topic"], keywords=tuple(f["keywords"]), answer=f["answer"])
        for f in data.get("faq", ())
    )
    defaults = AiProfile()
    return AiProfile(
        system_prompt=data.get("system_prompt", defaults.system_prompt),
        faq=faq,
        providers=tuple(data.get("providers", defaults.providers)),
    )


def message_to_json(message: InboundMessage) -> dict[str, Any]:
    sender = message.sender
    return {
        "event_id": message.event_id,
        "kind": message.kind.value,
        "chat_id": message.chat_id,
        "sender": {
            "external_id": sender.external_id,
            "display_name": sender.display_name,
            "username": sender.username,
            "language": sender.language,
        },
        "text": message.text,
        "occurred_at": message.occurred_at.isoformat(),
        "platform_message_id": message.platform_message_id,
        "callback_id": message.callback_id,
        "callback_data": message.callback_data,
        "shared_phone": message.shared_phone,
        "attachments": attachments_to_json(message.attachments),
    }


def message_from_json(data: dict[str, Any]) -> InboundMessage:
    return InboundMessage(
        event_id=data["event_id"],
        kind=InboundKind(data["kind"]),
        chat_id=data["chat_id"],
        sender=Sender(**data["sender"]),
        text=data["text"],
        occurred_at=datetime.fromisoformat(data["occurred_at"]),
        platform_message_id=data.get("platform_message_id"),
        callback_id=data.get("callback_id"),
        callback_data=data.get("callback_data"),
        shared_phone=data.get("shared_phone"),
        attachments=attachments_from_json(data.get("attachments")),
    )


def attachments_to_json(attachments: tuple[Attachment, ...]) -> list[dict[str, Any]]:
    return [{"kind": a.kind, "metadata": dict(a.metadata)} for a in attachments]


def attachments_from_json(data: list[dict[str, Any]] | None) -> tuple[Attachment, ...]:
    return tuple(Attachment(a["kind"], a.get("metadata") or {}) for a in data or ())


def items_to_json(items: tuple[OrderItem, ...]) -> list[dict[str, Any]]:
    # Prices travel as strings: JSON numbers would turn them into floats.
    return [
        {"sku": i.sku, "name": i.name, "quantity": i.quantity, "price": str(i.price)} for i in items
    ]


def items_from_json(data: list[dict[str, Any]]) -> tuple[OrderItem, ...]:
    return tuple(
        OrderItem(sku=i["sku"], name=i["name"], quantity=i["quantity"], price=Decimal(i["price"]))
        for i in data
    )


def money(value: Decimal | float | int | str) -> Decimal:
    """A stored amount with its trailing zeros trimmed to cents: 1500.0000 → 1500.00."""
    amount = Decimal(str(value))
    cents = amount.quantize(CENT)
    return cents if cents == amount else amount.normalize()
