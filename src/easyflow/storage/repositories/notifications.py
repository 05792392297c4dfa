"""Notification templates of a tenant, the contacts a notification goes to, and the bulk
staging of rendered notifications (message rows plus the outbox rows that send them).

Staging N notifications is two multi-row INSERTs per batch (messages, then outbox rows that
point at them), never a statement per recipient: a broadcast to thousands of chats commits
in a few round trips.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.engine import Row

from easyflow.domain.errors import NotFoundError
from easyflow.domain.messaging import DeliveryStatus, MessageAuthor, MessageDirection, OutboxKind
from easyflow.domain.notifications import (
    NotificationTarget,
    NotificationTemplate,
    StagedNotification,
)
from easyflow.storage.repositories.base import Repository, batched, insert
from easyflow.storage.repositories.conversations import with_latest_conversation
from easyflow.storage.tables import (
    contacts,
    conversations,
    messages,
    notification_templates,
    outbox,
)
from easyflow.storage.types import utcnow


def _template(row: Row) -> NotificationTemplate:
    return NotificationTemplate.from_json(row.event, row.language, row.template)


class SqlNotificationRepository(Repository):
    async def templates(
        self, tenant_id: int, event: str | None = None
    ) -> builtins.list[NotificationTemplate]:
        """The tenant's own templates (of one event), by event and language."""
        t = notification_templates
        query = select(t).where(t.c.tenant_id == tenant_id).order_by(t.c.event, t.c.language)
        if event is not None:
            query = query.where(t.c.event == event)
        return [_template(r) for r in await self._connection.execute(query)]

    async def save(self, tenant_id: int, template: NotificationTemplate) -> None:
        """Store the tenant's template for its event and language, replacing one there."""
        now = utcnow()
        t = notification_templates
        statement = insert(self._connection, t).values(
            tenant_id=tenant_id,
            event=template.event,
            language=template.language,
            template=template.variants_to_json(),
            created_at=now,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[t.c.tenant_id, t.c.event, t.c.language],
            set_={"template": statement.excluded.template, "updated_at": now},
        )
        await self._connection.execute(statement)

    async def delete(self, tenant_id: int, event: str, language: str) -> None:
        t = notification_templates
        result = await self._connection.execute(
            delete(t).where(
                t.c.tenant_id == tenant_id, t.c.event == event, t.c.language == language
            )
        )
        if result.rowcount == 0:
            raise NotFoundError(f"the tenant has no own template {event!r} in {language!r}")

    async def targets(
        self, tenant_id: int, contact_ids: Sequence[int]
    ) -> builtins.list[NotificationTarget]:
        """The tenant's contacts among `contact_ids` that have a conversation, each with its
        latest one (a contact of another tenant, or without a chat, is left out)."""
        found: list[NotificationTarget] = []
        for batch in batched(sorted(set(contact_ids))):
            query = with_latest_conversation(
                tenant_id,
                contacts.c.id,
                contacts.c.integration_id,
                conversations.c.id.label("conversation_id"),
                conversations.c.chat_id,
                contacts.c.language,
                contacts.c.display_name,
                contact_ids=batch,
            )
            found += [
                NotificationTarget(
                    r.id, r.integration_id, r.conversation_id, r.chat_id, r.language, r.display_name
                )
                for r in await self._connection.execute(query)
            ]
        return found

    async def stage(
        self, tenant_id: int, notifications: Sequence[StagedNotification]
    ) -> builtins.list[int]:
        """Store each as a pending outbound message and an outbox row due now; the outbox
        ids, in the order given. The conversations must be the tenant's (the composite
        foreign keys refuse any other)."""
        outbox_ids: list[int] = []
        for batch in batched(notifications):
            now = utcnow()
            message_rows = [
                {
                    "tenant_id": tenant_id,
                    "conversation_id": n.conversation_id,
                    "direction": MessageDirection.OUTBOUND.value,
                    "author": MessageAuthor.ASSISTANT.value,
                    "text": n.text,
                    "status": DeliveryStatus.PENDING.value,
                    "created_at": now,
                }
                for n in batch
            ]
            added = await self._connection.execute(
                messages.insert().returning(messages.c.id, sort_by_parameter_order=True),
                message_rows,
            )
            message_ids = [r.id for r in added]
            outbox_rows = [
                {
                    "tenant_id": tenant_id,
                    "integration_id": n.integration_id,
                    "conversation_id": n.conversation_id,
                    "message_id": message_id,
                    "kind": OutboxKind.MESSAGE.value,
                    "payload": n.payload.to_json(),
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for n, message_id in zip(batch, message_ids, strict=True)
            ]
            queued = await self._connection.execute(
                outbox.insert().returning(outbox.c.id, sort_by_parameter_order=True),
                outbox_rows,
            )
            outbox_ids += [r.id for r in queued]
        return outbox_ids
