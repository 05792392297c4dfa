"""Messages of a conversation, inbound and outbound, with their delivery state.

An inbound message is keyed by the inbound event it came from, so a worker that processes an
event again (after a crash, or a redelivered task) gets the stored row back instead of a copy.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CompoundSelect, Update, bindparam, exists, select, union_all, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Row
from sqlalchemy.sql.expression import Executable

from easyflow.domain.messaging import (
    DELIVERY_STATE_FROM,
    Attachment,
    DeliveryChange,
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
    owned_params,
    require_changed,
    require_row,
)
from easyflow.storage.tables import conversations, messages
from easyflow.storage.types import utcnow


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


def _inbound_with_history() -> CompoundSelect:
    """PostgreSQL: INSERT of an inbound message (once per event, only into the tenant's
    conversation) as a CTE, beside the read of the conversation's last messages.

    A row inserted by the statement is not visible to its own read: it comes from the CTE's
    RETURNING; on a repeat (the event's row exists) the read has it.
    """
    names = [
        "tenant_id", "conversation_id", "direction", "author", "text", "status",
        "inbound_event_id", "platform_message_id", "attachments", "created_at",
    ]  # fmt: skip
    # No attachments: SQL NULL, as `add` leaves the column out (JSON's own None is 'null').
    types = {
        "attachments": JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
    }
    yours = exists().where(
        conversations.c.id == bindparam("conversation_id"),
        conversations.c.tenant_id == bindparam("tenant_id"),
    )
    source = select(
        *(bindparam(name, type_=types.get(name, messages.c[name].type)) for name in names)
    )
    new = (
        postgresql.insert(messages)
        .from_select(names, source.where(yours))
        .on_conflict_do_nothing(index_elements=[messages.c.inbound_event_id])
        .returning(*messages.c)
        .cte("new_message")
    )
    older = (
        select(messages)
        .where(
            messages.c.tenant_id == bindparam("tenant_id"),
            messages.c.conversation_id == bindparam("conversation_id"),
        )
        .order_by(messages.c.id.desc())
        .limit(bindparam("limit"))
        .subquery("older")
    )
    return union_all(select(*older.c), select(*new.c))


# Built once: its CTE's and subquery's column collections cost more to build than it takes
# to run.
_INBOUND_WITH_HISTORY = _inbound_with_history()


@functools.cache
def _message_insert(dialect: str, names: tuple[str, ...]) -> Executable:
    """INSERT of one message into its tenant's conversation, once per inbound event: built
    once per dialect and set of columns."""
    return (
        owned_insert(dialect, messages, names, owner=conversations)
        .on_conflict_do_nothing(index_elements=[messages.c.inbound_event_id])
        .returning(*messages.c)
    )


# A conversation's last messages, read for every reply: built once.
_HISTORY = (
    select(messages)
    .where(
        messages.c.tenant_id == bindparam("tenant_id"),
        messages.c.conversation_id == bindparam("conversation_id"),
    )
    .order_by(messages.c.id.desc())
    .limit(bindparam("limit"))
)


def message_row(
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
) -> dict[str, Any]:
    """The column values of a new message (`SqlMessageRepository.add`)."""
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
    return values


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
        values = message_row(
            tenant_id,
            conversation_id,
            direction=direction,
            author=author,
            text=text,
            status=status,
            inbound_event_id=inbound_event_id,
            platform_message_id=platform_message_id,
            attachments=attachments,
        )
        statement = _message_insert(self._connection.dialect.name, tuple(values))
        params = owned_params(messages, values, conversation_id)
        row = (await self._connection.execute(statement, params)).first()
        if row is None:  # stored before (the event's), or not the tenant's conversation
            if inbound_event_id is None:
                raise not_found("conversation", conversation_id)
            row = await self._by_inbound_event(tenant_id, inbound_event_id)
        return _message(row)

    async def add_inbound_with_history(
        self,
        tenant_id: int,
        conversation_id: int,
        *,
        text: str,
        inbound_event_id: int,
        platform_message_id: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        limit: int,
    ) -> tuple[StoredMessage, list[StoredMessage]]:
        """Store a customer's message (once per event, as `add`); it and the last `limit`
        messages with it, oldest first: one statement on PostgreSQL (the INSERT as a CTE
        beside the read), two elsewhere."""
        if self._connection.dialect.name != "postgresql":
            stored = await self.add(
                tenant_id,
                conversation_id,
                direction=MessageDirection.INBOUND,
                author=MessageAuthor.CUSTOMER,
                text=text,
                status=DeliveryStatus.RECEIVED,
                inbound_event_id=inbound_event_id,
                platform_message_id=platform_message_id,
                attachments=attachments,
            )
            return stored, await self.history(tenant_id, conversation_id, limit)
        params: dict[str, Any] = {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "direction": MessageDirection.INBOUND.value,
            "author": MessageAuthor.CUSTOMER.value,
            "text": text,
            "status": DeliveryStatus.RECEIVED.value,
            "inbound_event_id": inbound_event_id,
            "platform_message_id": platform_message_id,
            "attachments": attachments_to_json(attachments) if attachments else None,
            "created_at": utcnow(),
            "limit": limit,
        }
        result = await self._connection.execute(_INBOUND_WITH_HISTORY, params)
        rows = sorted(result.all(), key=lambda r: r.id)
        mine = [row for row in rows if row.inbound_event_id == inbound_event_id]
        if not mine:
            raise not_found("conversation", conversation_id)  # not the tenant's
        return _message(mine[0]), [_message(row) for row in rows[-limit:]]

    async def apply_delivery_states(
        self, tenant_id: int, integration_id: int, changes: Sequence[DeliveryChange]
    ) -> list[DeliveryChange]:
        """Move messages of the integration, found by the platform's id, to the states the
        platform reports — only forward (`DELIVERY_STATE_FROM`: a late "delivered" does not
        undo "read"). The changes whose message is not stored (yet: a report can overtake
        the recording of the send it reports on) come back."""
        unmatched = []
        for change in changes:
            params = {
                "b_tenant_id": tenant_id,
                "b_integration_id": integration_id,
                "b_pmid": change.platform_message_id,
                "new_status": change.status.value,
                "new_error": change.error,
            }
            result = await self._connection.execute(_DELIVERY_CHANGES[change.status], params)
            if result.first() is None:
                known = await self._connection.execute(_KNOWN_PLATFORM_ID, params)
                if known.first() is None:
                    unmatched.append(change)
        return unmatched

    async def history(
        self, tenant_id: int, conversation_id: int, limit: int
    ) -> list[StoredMessage]:
        """The last `limit` messages, oldest first."""
        params = {"tenant_id": tenant_id, "conversation_id": conversation_id, "limit": limit}
        rows = (await self._connection.execute(_HISTORY, params)).all()
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


def _delivery_change(status: DeliveryStatus) -> Update:
    """UPDATE of one message of the integration to `status`, from the states it may follow."""
    yours = select(conversations.c.id).where(
        conversations.c.integration_id == bindparam("b_integration_id"),
        conversations.c.tenant_id == bindparam("b_tenant_id"),
    )
    return (
        update(messages)
        .where(
            messages.c.platform_message_id == bindparam("b_pmid"),
            messages.c.tenant_id == bindparam("b_tenant_id"),
            messages.c.conversation_id.in_(yours),
            messages.c.status.in_([s.value for s in DELIVERY_STATE_FROM[status]]),
        )
        .values(status=bindparam("new_status"), error=bindparam("new_error"))
        .returning(messages.c.id)
    )


_DELIVERY_CHANGES = {status: _delivery_change(status) for status in DELIVERY_STATE_FROM}
_KNOWN_PLATFORM_ID = select(messages.c.id).where(
    messages.c.platform_message_id == bindparam("b_pmid"),
    messages.c.tenant_id == bindparam("b_tenant_id"),
    messages.c.conversation_id.in_(
        select(conversations.c.id).where(
            conversations.c.integration_id == bindparam("b_integration_id"),
            conversations.c.tenant_id == bindparam("b_tenant_id"),
        )
    ),
)
