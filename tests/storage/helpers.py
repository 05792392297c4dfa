"""Values the storage tests build again and again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from easyflow.domain.messaging import InboundKind, InboundMessage, Sender

BOT_TOKEN = "123456:AAH-plaintext-bot-token"
T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Tenancy:
    tenant_a: int
    tenant_b: int
    integration_a: int
    integration_b: int


def inbound_message(event_id: str, chat_id: str = "42", text: str = "hello") -> InboundMessage:
    return InboundMessage(
        event_id=event_id,
        kind=InboundKind.MESSAGE,
        chat_id=chat_id,
        sender=Sender(external_id=chat_id, display_name="Ann", username="ann", language="ru"),
        text=text,
        occurred_at=T0,
        platform_message_id=f"m{event_id}",
    )
