"""Contacts (a customer on one integration) and conversations (one chat on one integration).

Both are upserted by the inbound worker with one `INSERT … ON CONFLICT DO UPDATE … RETURNING`,
so concurrent workers seeing the same customer end with one row.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, case, func, or_, select, true, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row
from sqlalchemy.sql.dml import ReturningInsert
from sqlalchemy.sql.expression import Executable

from easyflow.domain.messaging import Contact, Conversation, ConversationStatus, Sender
from easyflow.storage.repositories.base import (
    Insert,
    Repository,
    insert_names,
    owned_insert,
    owned_params,
    require_changed,
    require_row,
    with_python_defaults,
)
from easyflow.storage.tables import contacts, conversations, integrations


def _contact(row: Row, prefix: str = "") -> Contact:
    """The contact in `row`, its columns named `prefix` + column (a join's other table)."""
    column = row._mapping
    return Contact(
        id=column[prefix + "id"],
        tenant_id=column[prefix + "tenant_id"],
        integration_id=column[prefix + "integration_id"],
        external_id=column[prefix + "external_id"],
        display_name=column[prefix + "display_name"],
        username=column[prefix + "username"],
        phone=column[prefix + "phone"],
    )


def _conversation(row: Row) -> Conversation:
    return Conversation(
        id=row.id,
        tenant_id=row.tenant_id,
        integration_id=row.integration_id,
        contact_id=row.contact_id,
        chat_id=row.chat_id,
        status=ConversationStatus(row.status),
        last_message_at=row.last_message_at,
        created_at=row.created_at,
    )


def _contact_values(tenant_id: int, integration_id: int, sender: Sender) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "integration_id": integration_id,
        "external_id": sender.external_id,
        "display_name": sender.display_name,
        "username": sender.username,
        "language": sender.language,
    }


def _conversation_values(
    tenant_id: int, integration_id: int, contact_id: int | None, chat_id: str, at: datetime
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "integration_id": integration_id,
        "contact_id": contact_id,
        "chat_id": chat_id,
        "status": ConversationStatus.OPEN.value,
        "last_message_at": at,
    }


@functools.cache
def _contact_upsert(dialect: str, names: tuple[str, ...]) -> Executable:
    """The contact of a sender, inserted or refreshed: built once per dialect."""
    return _refreshing_contact(owned_insert(dialect, contacts, names, owner=integrations))


def _refreshing_contact(insertion: Insert) -> ReturningInsert[Any]:
    """`insertion` of a contact that, for a sender already known, refreshes the profile."""
    new = insertion.excluded
    # Some updates carry no profile (a callback, a status): keep what we knew.
    return insertion.on_conflict_do_update(
        index_elements=[contacts.c.tenant_id, contacts.c.integration_id, contacts.c.external_id],
        set_={
            "display_name": func.coalesce(
                func.nullif(new.display_name, ""), contacts.c.display_name
            ),
            "username": func.coalesce(new.username, contacts.c.username),
            "language": func.coalesce(new.language, contacts.c.language),
            "updated_at": new.updated_at,
        },
    ).returning(*contacts.c)


@functools.cache
def _conversation_upsert(dialect: str, names: tuple[str, ...]) -> Executable:
    """A chat's conversation, inserted or its clock moved forward: built once per dialect."""
    insertion = owned_insert(dialect, conversations, names, owner=integrations)
    return _refreshing_conversation(insertion).returning(*conversations.c)


def _refreshing_conversation(insertion: Insert) -> Insert:
    """`insertion` of a conversation that, for a chat already known, moves its clock forward."""
    new, current = insertion.excluded, conversations.c.last_message_at
    later = or_(current.is_(None), new.last_message_at > current)
    return insertion.on_conflict_do_update(
        index_elements=[conversations.c.integration_id, conversations.c.chat_id],
        set_={
            "last_message_at": case((later, new.last_message_at), else_=current),
            "updated_at": new.updated_at,
        },
    )


CONTACT_COLUMN = "contact__"  # prefix of the contact's columns beside the conversation's


@functools.cache
def _sender_and_chat_upsert(
    contact_names: tuple[str, ...], conversation_names: tuple[str, ...]
) -> Executable:
    """PostgreSQL: the two upserts above in one statement. The contact's is a data-modifying
    CTE that keeps its tenant guard (not the tenant's integration: no contact, so no row at
    all); the conversation's takes the contact's id from it; both rows come back side by side.
    """
    guarded = owned_insert("postgresql", contacts, contact_names, owner=integrations)
    contact = _refreshing_contact(guarded).cte("contact")
    source = select(
        *(
            contact.c.id
            if name == "contact_id"
            else bindparam(name, type_=conversations.c[name].type)
            for name in conversation_names
        )
    ).select_from(contact)
    insertion = postgresql.insert(conversations).from_select(conversation_names, source)
    conversation = (
        _refreshing_conversation(insertion).returning(*conversations.c).cte("conversation")
    )
    both = (*conversation.c, *(c.label(CONTACT_COLUMN + c.name) for c in contact.c))
    # Joined on nothing but their one row each: a chat's conversation may have begun with
    # another sender (a group chat), so its contact_id need not be this contact's.
    return select(*both).select_from(conversation.join(contact, true()))


def with_latest_conversation(
    tenant_id: int, *columns: Any, contact_ids: Sequence[int] | None = None
) -> Select[Any]:
    """SELECT `columns` of the tenant's contacts (those among `contact_ids`, if given), each
    joined to its latest conversation (`conversations.c.*`); a contact without one is left
    out. Where a notification to a contact goes: the chat they last wrote from."""
    latest = select(conversations.c.contact_id, func.max(conversations.c.id).label("id")).where(
        conversations.c.tenant_id == tenant_id
    )
    if contact_ids is not None:
        latest = latest.where(conversations.c.contact_id.in_(contact_ids))
    newest = latest.group_by(conversations.c.contact_id).subquery()
    return (
        select(*columns)
        .select_from(contacts)
        .join(newest, newest.c.contact_id == contacts.c.id)
        .join(conversations, conversations.c.id == newest.c.id)
        .where(contacts.c.tenant_id == tenant_id)
    )


class SqlContactRepository(Repository):
    async def upsert(self, tenant_id: int, integration_id: int, sender: Sender) -> Contact:
        """The contact for this sender, created or refreshed with what the sender shows now."""
        values = _contact_values(tenant_id, integration_id, sender)
        statement = _contact_upsert(self._connection.dialect.name, tuple(values))
        params = owned_params(contacts, values, integration_id)
        row = (await self._connection.execute(statement, params)).first()
        return _contact(require_row(row, "integration", integration_id))

    async def get(self, tenant_id: int, contact_id: int) -> Contact:
        query = select(contacts).where(
            contacts.c.id == contact_id, contacts.c.tenant_id == tenant_id
        )
        row = (await self._connection.execute(query)).first()
        return _contact(require_row(row, "contact", contact_id))

    async def phone(self, tenant_id: int, contact_id: int) -> str | None:
        """The contact's proven phone number (digits), or None."""
        query = select(contacts.c.phone).where(
            contacts.c.id == contact_id, contacts.c.tenant_id == tenant_id
        )
        row = (await self._connection.execute(query)).first()
        return require_row(row, "contact", contact_id).phone

    async def set_phone(self, tenant_id: int, contact_id: int, phone: str) -> None:
        """Record a phone number the contact proved; it replaces any earlier one."""
        statement = (
            update(contacts)
            .where(contacts.c.id == contact_id, contacts.c.tenant_id == tenant_id)
            .values(phone=phone)
        )
        require_changed(await self._connection.execute(statement), "contact", contact_id)


class SqlConversationRepository(Repository):
    async def upsert(
        self, tenant_id: int, integration_id: int, contact_id: int, chat_id: str, at: datetime
    ) -> Conversation:
        """The open or existing conversation of this chat; `at` only moves its clock forward."""
        values = _conversation_values(tenant_id, integration_id, contact_id, chat_id, at)
        statement = _conversation_upsert(self._connection.dialect.name, tuple(values))
        params = owned_params(conversations, values, integration_id)
        row = (await self._connection.execute(statement, params)).first()
        return _conversation(require_row(row, "integration", integration_id))

    async def upsert_with_contact(
        self, tenant_id: int, integration_id: int, sender: Sender, chat_id: str, at: datetime
    ) -> tuple[Contact, Conversation]:
        """The sender's contact and the chat's conversation, each inserted or refreshed as
        `SqlContactRepository.upsert` and `upsert` do: one statement on PostgreSQL, two on
        SQLite (which has no data-modifying CTE)."""
        if self._connection.dialect.name != "postgresql":
            contact = await SqlContactRepository(self._connection).upsert(
                tenant_id, integration_id, sender
            )
            return contact, await self.upsert(tenant_id, integration_id, contact.id, chat_id, at)
        contact_values = _contact_values(tenant_id, integration_id, sender)
        # The conversation's contact_id comes from the contact's CTE, not from a parameter.
        values = _conversation_values(tenant_id, integration_id, None, chat_id, at)
        statement = _sender_and_chat_upsert(
            insert_names(contacts, tuple(contact_values)),
            insert_names(conversations, tuple(values)),
        )
        params = {
            **with_python_defaults(conversations, values),
            **owned_params(contacts, contact_values, integration_id),
        }
        row = require_row(
            (await self._connection.execute(statement, params)).first(),
            "integration",
            integration_id,
        )
        return _contact(row, CONTACT_COLUMN), _conversation(row)

    async def get(self, tenant_id: int, conversation_id: int) -> Conversation:
        query = select(conversations).where(
            conversations.c.id == conversation_id, conversations.c.tenant_id == tenant_id
        )
        row = (await self._connection.execute(query)).first()
        return _conversation(require_row(row, "conversation", conversation_id))

    async def list(
        self,
        tenant_id: int,
        *,
        integration_id: int | None = None,
        status: ConversationStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Conversation]:
        """The tenant's conversations, the most recently active first."""
        query = select(conversations).where(conversations.c.tenant_id == tenant_id)
        if integration_id is not None:
            query = query.where(conversations.c.integration_id == integration_id)
        if status is not None:
            query = query.where(conversations.c.status == status.value)
        query = query.order_by(
            conversations.c.last_message_at.desc().nulls_last(), conversations.c.id.desc()
        )
        rows = await self._connection.execute(query.limit(limit).offset(offset))
        return [_conversation(row) for row in rows]

    async def set_status(
        self, tenant_id: int, conversation_id: int, status: ConversationStatus
    ) -> None:
        statement = (
            update(conversations)
            .where(conversations.c.id == conversation_id, conversations.c.tenant_id == tenant_id)
            .values(status=status.value)
        )
        result = await self._connection.execute(statement)
        require_changed(result, "conversation", conversation_id)
