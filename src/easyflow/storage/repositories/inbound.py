"""Inbound events: verified webhook deliveries, stored before the platform gets its ack.

`add_many` is one `INSERT … ON CONFLICT DO NOTHING RETURNING id` per batch: a redelivered
event is skipped by the unique (integration, event id) key and only new ids come back, so
only new events are enqueued. Workers take the pending events of one conversation in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Row

from easyflow.domain.messaging import EventStatus, InboundEvent, InboundMessage
from easyflow.storage.codecs import message_from_json, message_to_json
from easyflow.storage.repositories.base import Repository, batched, ids, insert, require_changed
from easyflow.storage.tables import inbound_events
from easyflow.storage.types import utcnow


def _event(row: Row) -> InboundEvent:
    return InboundEvent(
        id=row.id,
        tenant_id=row.tenant_id,
        integration_id=row.integration_id,
        platform=row.platform,
        event_id=row.event_id,
        conversation_key=row.conversation_key,
        message=message_from_json(row.message),
        status=EventStatus(row.status),
        received_at=row.received_at,
        attempts=row.attempts,
    )


class SqlInboundEventRepository(Repository):
    async def add_many(
        self,
        tenant_id: int,
        integration_id: int,
        platform: str,
        events: Sequence[tuple[str, str, InboundMessage]],
        raw: dict[str, Any],
    ) -> list[int]:
        """Store (event_id, conversation_key, message) rows; ids of the rows that were new,
        in arrival order. A row whose (integration, event_id) exists already is skipped."""
        received_at = utcnow()
        rows = [
            {
                "tenant_id": tenant_id,
                "integration_id": integration_id,
                "platform": platform,
                "event_id": event_id,
                "conversation_key": conversation_key,
                "message": message_to_json(message),
                "raw": raw,
                "status": EventStatus.PENDING.value,
                "attempts": 0,
                "received_at": received_at,
            }
            for event_id, conversation_key, message in events
        ]
        statement = (
            insert(self._connection, inbound_events)
            .on_conflict_do_nothing(
                index_elements=[inbound_events.c.integration_id, inbound_events.c.event_id]
            )
            .returning(inbound_events.c.id)
        )
        new_ids: list[int] = []
        for batch in batched(rows):
            new_ids += ids(await self._connection.execute(statement, list(batch)))
        return sorted(new_ids)

    async def get(self, event_id: int) -> InboundEvent | None:
        query = select(inbound_events).where(inbound_events.c.id == event_id)
        row = (await self._connection.execute(query)).first()
        return None if row is None else _event(row)

    async def pending_for_key(
        self, integration_id: int, conversation_key: str
    ) -> list[InboundEvent]:
        """Pending events of one conversation in arrival order."""
        query = (
            select(inbound_events)
            .where(
                inbound_events.c.integration_id == integration_id,
                inbound_events.c.conversation_key == conversation_key,
                inbound_events.c.status == EventStatus.PENDING.value,
            )
            .order_by(inbound_events.c.id)
        )
        return [_event(row) for row in await self._connection.execute(query)]

    async def mark(self, event_id: int, status: EventStatus, *, error: str | None = None) -> None:
        """Record the outcome of one processing attempt (each call counts as an attempt)."""
        done = status is EventStatus.DONE
        statement = (
            update(inbound_events)
            .where(inbound_events.c.id == event_id)
            .values(
                status=status.value,
                error=error,
                attempts=inbound_events.c.attempts + 1,
                processed_at=utcnow() if done else None,
            )
        )
        require_changed(await self._connection.execute(statement), "inbound event", event_id)

    async def stuck(self, received_before: datetime, limit: int) -> list[int]:
        """Pending events received before the deadline (their task was lost or failed)."""
        query = (
            select(inbound_events.c.id)
            .where(
                inbound_events.c.status == EventStatus.PENDING.value,
                inbound_events.c.received_at < received_before,
            )
            .order_by(inbound_events.c.id)
            .limit(limit)
        )
        return ids(await self._connection.execute(query))
