"""Messages of a conversation, inbound and outbound, with their delivery state.

An inbound message is keyed by the inbound event it came from, so a worker that processes an
event again (after a crash, or a redelivered task) gets the stored row back instead of a copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row

from easyflow.domain.messaging import (
    Attachment,
    DeliveryStatus,
    MessageAuthor,
    MessageDirection,
    StoredMessage,
)
from easyflow.storage.codecs import attachments_from_json, attachments_to_json
from easyflow.storage.repositories.base import (
    Repository,
    not_found,
    owned_insert,
    require_changed,
    require_row,
)
from easyflow.storage.tables import conversations, messages


def _message(row: Row) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        tenant_id=row.tenant_id,
        conversation_id=row.conversation_id,
        direction=MessageDirection(row.direction),
        author=MessageAuthor(row.author),
        text=row.text,
        status=DeliveryStatus(row.status),
        created_at=row.created_at,
        platform_message_id=row.platform_message_id,
        error=row.error,
        sent_at=row.sent_at,
        attachments=attachments_from_json(row.attachments),
    )


class SqlMessageRepository(Repository):
    async def add(
        self,
        tenant_id: int,
        conversation_id: int,
        *,
        direction: MessageDirection,
        author: MessageAuthor,
        text: str,
        status: DeliveryStatus,
        inbound_event_id: int | None = None,
        platform_message_id: str | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> StoredMessage:
        """Append a message; with `inbound_event_id`, a second add returns the first row."""
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "direction": direction.value,
            "author": author.value,
            "text": text,
            "status": status.value,
            "inbound_event_id": inbound_event_id,
            "platform_message_id": platform_message_id,
        }
        if attachments:  # else left out: SQL NULL, where None would be stored as JSON null
            values["attachments"] = attachments_to_json(attachments)
        statement = (
            owned_insert(
                self._connection, messages, values, owner=conversations, owner_id=conversation_id
            )
            .on_conflict_do_nothing(index_elements=[messages.c.inbound_event_id])
            .returning(*messages.c)
        )
        row = (await self._connection.execute(statement)).first()
        if row is None:  # stored before (the event's), or not the tenant's conversation
            if inbound_event_id is None:
                raise not_found("conversation", conversation_id)
            row = await self._by_inbound_event(tenant_id, inbound_event_id)
        return _message(row)

    async def history(
        self, tenant_id: int, conversation_id: int, limit: int
    ) -> list[StoredMessage]:
        """The last `limit` messages, oldest first."""
        query = (
            select(messages)
            .where(messages.c.tenant_id == tenant_id, messages.c.conversation_id == conversation_id)
            .order_by(messages.c.id.desc())
            .limit(limit)
        )
        rows = (await self._connection.execute(query)).all()
        return [_message(row) for row in reversed(rows)]

    async def list(
        self, tenant_id: int, conversation_id: int, *, limit: int = 100, after_id: int = 0
    ) -> list[StoredMessage]:
        """Messages after `after_id`, oldest first: page on with the last id seen."""
        query = (
            select(messages)
            .where(
                messages.c.tenant_id == tenant_id,
                messages.c.conversation_id == conversation_id,
                messages.c.id > after_id,
            )
            .order_by(messages.c.id)
            .limit(limit)
        )
        return [_message(row) for row in await self._connection.execute(query)]

    async def set_delivery(
        self,
        tenant_id: int,
        message_id: int,
        *,
        status: DeliveryStatus,
        platform_message_id: str | None = None,
        error: str | None = None,
        sent_at: datetime | None = None,
    ) -> None:
        """Record a delivery outcome; `error` is replaced (a success clears an old failure)."""
        values: dict[str, Any] = {"status": status.value, "error": error}
        if platform_message_id is not None:
            values["platform_message_id"] = platform_message_id
        if sent_at is not None:
            values["sent_at"] = sent_at
        statement = (
            update(messages)
            .where(messages.c.id == message_id, messages.c.tenant_id == tenant_id)
            .values(values)
        )
        require_changed(await self._connection.execute(statement), "message", message_id)

    async def _by_inbound_event(self, tenant_id: int, inbound_event_id: int | None) -> Row:
        query = select(messages).where(
            messages.c.inbound_event_id == inbound_event_id, messages.c.tenant_id == tenant_id
        )
        row = (await self._connection.execute(query)).first()
        return require_row(row, "message of inbound event", inbound_event_id)
