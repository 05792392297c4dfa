"""The outbox: every reply and notification waits here until a worker delivers it.

A worker claims a row with one conditional UPDATE … RETURNING: it wins only if the row is due
(pending or failed, `next_attempt_at` reached) and no live lease holds it, so two workers
cannot both send it. The lease (`lease_until`) marks a row in flight; the domain has no
"sending" status, and a lapsed lease makes the row claimable again after a crashed send.
Each claim counts as an attempt. Dead rows stay for inspection and can be replayed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.engine import Row

from easyflow.domain.errors import InvalidRequestError
from easyflow.domain.messaging import DeliveryStatus, OutboxItem, OutboxKind
from easyflow.storage.repositories.base import (
    Repository,
    ids,
    not_found,
    require_changed,
)
from easyflow.storage.tables import integrations, outbox
from easyflow.storage.types import utcnow

_RETRYABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)


def _item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        tenant_id=row.tenant_id,
        integration_id=row.integration_id,
        conversation_id=row.conversation_id,
        message_id=row.message_id,
        kind=OutboxKind(row.kind),
        payload=row.payload,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        last_error=row.last_error,
    )


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        outbox.c.status.in_(_RETRYABLE),
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )


class SqlOutboxRepository(Repository):
    async def add(
        self,
        tenant_id: int,
        integration_id: int,
        kind: OutboxKind,
        payload: dict[str, Any],
        *,
        conversation_id: int | None = None,
        message_id: int | None = None,
    ) -> OutboxItem:
        """A pending row, due now."""
        await self._require_owned(integrations, tenant_id, integration_id, "integration")
        now = utcnow()
        statement = (
            outbox.insert()
            .values(
                tenant_id=tenant_id,
                integration_id=integration_id,
                conversation_id=conversation_id,
                message_id=message_id,
                kind=kind.value,
                payload=payload,
                status=DeliveryStatus.PENDING.value,
                next_attempt_at=now,
                created_at=now,
            )
            .returning(*outbox.c)
        )
        return _item((await self._connection.execute(statement)).one())

    async def claim(
        self, outbox_id: int, now: datetime, lease_until: datetime
    ) -> OutboxItem | None:
        """Take the row for sending if it is due and nobody holds it; None otherwise."""
        statement = (
            update(outbox)
            .where(outbox.c.id == outbox_id, _claimable(now))
            .values(lease_until=lease_until, attempts=outbox.c.attempts + 1)
            .returning(*outbox.c)
        )
        row = (await self._connection.execute(statement)).first()
        return None if row is None else _item(row)

    async def mark_sent(self, outbox_id: int, now: datetime) -> None:
        await self._set(outbox_id, status=DeliveryStatus.SENT.value, sent_at=now, lease_until=None)

    async def mark_failed(
        self, outbox_id: int, error: str, *, next_attempt_at: datetime, dead: bool
    ) -> None:
        """Release the row: retried at `next_attempt_at`, or never again when `dead`."""
        status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
        await self._set(
            outbox_id,
            status=status.value,
            last_error=error,
            next_attempt_at=next_attempt_at,
            lease_until=None,
        )

    async def get(self, outbox_id: int) -> OutboxItem | None:
        row = (
            await self._connection.execute(select(outbox).where(outbox.c.id == outbox_id))
        ).first()
        return _item(row) if row else None

    async def unsent_for_conversation(self, conversation_id: int) -> list[OutboxItem]:
        """Pending and failed rows of one conversation, oldest first (its send queue)."""
        query = (
            select(outbox)
            .where(outbox.c.conversation_id == conversation_id, outbox.c.status.in_(_RETRYABLE))
            .order_by(outbox.c.id)
        )
        return [_item(row) for row in await self._connection.execute(query)]

    async def due(self, now: datetime, limit: int) -> list[int]:
        """Rows due for (re)sending: pending or failed and due, or with a lapsed lease."""
        query = (
            select(outbox.c.id)
            .where(_claimable(now))
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
        )
        return ids(await self._connection.execute(query))

    async def list(
        self, tenant_id: int, *, status: DeliveryStatus | None = None, limit: int = 100
    ) -> list[OutboxItem]:
        """The tenant's rows, newest first."""
        query = select(outbox).where(outbox.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(outbox.c.status == status.value)
        rows = await self._connection.execute(query.order_by(outbox.c.id.desc()).limit(limit))
        return [_item(row) for row in rows]

    async def replay(self, tenant_id: int, outbox_id: int, now: datetime) -> None:
        """Send a dead row again, with a fresh count of attempts.

        Raises NotFoundError for another tenant's row, InvalidRequestError if it is not dead.
        """
        mine = and_(outbox.c.id == outbox_id, outbox.c.tenant_id == tenant_id)
        statement = (
            update(outbox)
            .where(mine, outbox.c.status == DeliveryStatus.DEAD.value)
            .values(
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
            )
        )
        if (await self._connection.execute(statement)).rowcount:
            return
        status = (await self._connection.execute(select(outbox.c.status).where(mine))).scalar()
        if status is None:
            raise not_found("outbox row", outbox_id)
        raise InvalidRequestError(f"outbox row {outbox_id} is {status}; only dead rows replay")

    async def _set(self, outbox_id: int, **values: Any) -> None:
        statement = update(outbox).where(outbox.c.id == outbox_id).values(**values)
        require_changed(await self._connection.execute(statement), "outbox row", outbox_id)
