"""Inbound events: verified webhook deliveries, stored before the platform gets its ack.

`add_many` is one `INSERT … ON CONFLICT DO NOTHING RETURNING id` per batch: a redelivered
event is skipped by the unique (integration, event id) key and only new ids come back, so
only new events are enqueued. `add_deliveries` does the same for the deliveries of several
concurrent webhook requests in one statement (intake groups them). Dedup has a window: only
when some rows conflicted, slots held since before it (an id the platform reused) are freed
and those rows inserted again. Workers take the pending events of one conversation in order.

Every outcome is recorded only on a pending row (`WHERE status = 'pending'`): a worker that
lost the race, or whose commit succeeded although its connection dropped before the answer,
changes nothing the second time — so an event is done once and its reply stored once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, cast, func, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from easyflow.domain.errors import InvalidRequestError
from easyflow.domain.messaging import (
    ChatBacklog,
    EventStatus,
    InboundEvent,
    InboundMessage,
    NewInboundEvents,
)
from easyflow.storage.codecs import message_from_json, message_to_json
from easyflow.storage.repositories.base import Repository, batched, ids, insert, not_found
from easyflow.storage.repositories.tenants import tenant_from
from easyflow.storage.tables import inbound_events, tenants
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
        error=row.error,
        next_attempt_at=row.next_attempt_at,
    )


_PENDING = EventStatus.PENDING.value
# Longer than any platform retries a delivery (Telegram: 24 h), far shorter than the week
# after which Telegram may reuse update ids.
DEDUP_WINDOW = timedelta(hours=24)


def _pending_in_chat() -> Select[Any]:
    event = inbound_events.alias("event")
    same_chat = and_(
        event.c.id == bindparam("event_id"),
        event.c.integration_id == inbound_events.c.integration_id,
        event.c.conversation_key == inbound_events.c.conversation_key,
    )
    return (
        select(
            inbound_events,
            tenants.c.name.label("tenant_name"),
            tenants.c.ai_profile.label("tenant_ai_profile"),
            tenants.c.created_at.label("tenant_created_at"),
        )
        .join(event, same_chat)
        .join(tenants, tenants.c.id == inbound_events.c.tenant_id)
        .where(inbound_events.c.status == EventStatus.PENDING.value)
        .order_by(inbound_events.c.id)
    )


_INSERT_NEW: dict[str, Any] = {}


def _insert_new_statement(connection: Any) -> Any:
    """The dialect's INSERT … ON CONFLICT DO NOTHING RETURNING, built once per dialect:
    building it costs more than its cached compilation does."""
    name = connection.dialect.name
    statement = _INSERT_NEW.get(name)
    if statement is None:
        c = inbound_events.c
        statement = (
            insert(connection, inbound_events)
            .on_conflict_do_nothing(index_elements=[c.integration_id, c.event_id])
            .returning(c.id, c.integration_id, c.event_id)
        )
        _INSERT_NEW[name] = statement
    return statement


# Built once: an alias's column collection costs more to build than the query takes to run.
_PENDING_IN_CHAT = _pending_in_chat()


def _update_pending_statement(*columns: str) -> Any:
    """An UPDATE of one event while it is still pending that counts an attempt and sets
    `columns` to the parameters `new_<column>`: the outcome of every message is recorded with
    one, and building it costs more than running it."""
    c = inbound_events.c
    return (
        update(inbound_events)
        .where(c.id == bindparam("row_id"), c.status == _PENDING)
        .values(attempts=c.attempts + 1, **{name: bindparam("new_" + name) for name in columns})
    )


_MARK = _update_pending_statement("status", "error", "processed_at", "next_attempt_at")
_RETRY_LATER = _update_pending_statement("error", "next_attempt_at")
_EXISTS = select(inbound_events.c.id).where(inbound_events.c.id == bindparam("row_id"))


class SqlInboundEventRepository(Repository):
    async def add_many(
        self,
        tenant_id: int,
        integration_id: int,
        platform: str,
        events: Sequence[tuple[str, str, InboundMessage]],
        raw: dict[str, Any],
        *,
        failure: str | None = None,
        dedup_window: timedelta = DEDUP_WINDOW,
    ) -> list[int]:
        """Store (event_id, conversation_key, message) rows; ids of the rows that were new,
        in arrival order. A row whose (integration, event_id) was received within
        `dedup_window` is a redelivery and is skipped; an older one is a reused id. With a
        `failure`, the rows are stored `failed` with that reason, never to be processed."""
        delivery = NewInboundEvents(
            tenant_id, integration_id, platform, tuple(events), raw, failure
        )
        (new_ids,) = await self.add_deliveries([delivery], dedup_window=dedup_window)
        return new_ids

    async def add_deliveries(
        self, deliveries: Sequence[NewInboundEvents], *, dedup_window: timedelta = DEDUP_WINDOW
    ) -> list[list[int]]:
        """`add_many` for several deliveries in one statement: the new ids of each, in
        arrival order. An (integration, event id) carried by more than one is new for the
        first; the others see it taken, as a redelivery."""
        received_at = utcnow()
        rows: list[dict[str, Any]] = []
        starts: list[int] = []  # where each delivery's rows begin
        owner: dict[tuple[int, str], int] = {}  # (integration, event id) -> first delivery
        for index, delivery in enumerate(deliveries):
            starts.append(len(rows))
            status = EventStatus.PENDING if delivery.failure is None else EventStatus.FAILED
            for event_id, conversation_key, message in delivery.events:
                owner.setdefault((delivery.integration_id, event_id), index)
                rows.append(
                    {
                        "tenant_id": delivery.tenant_id,
                        "integration_id": delivery.integration_id,
                        "platform": delivery.platform,
                        "event_id": event_id,
                        "conversation_key": conversation_key,
                        "message": message_to_json(message),
                        "raw": delivery.raw,
                        "status": status.value,
                        "error": delivery.failure,
                        "attempts": 0,
                        "received_at": received_at,
                    }
                )
        new_ids: list[list[int]] = [[] for _ in deliveries]
        inserted = await self._insert_new(rows)
        for key, row_id in inserted.items():
            new_ids[owner[key]].append(row_id)
        for index, delivery in enumerate(deliveries):
            # Only ids taken before this statement can be stale: one taken by an earlier
            # delivery of the same group was inserted just now.
            taken = {
                event_id
                for event_id, _, _ in delivery.events
                if (delivery.integration_id, event_id) not in inserted
                and owner[(delivery.integration_id, event_id)] == index
            }
            cutoff = received_at - dedup_window
            if taken and await self._free_stale(delivery.integration_id, taken, cutoff):
                own = rows[starts[index] : starts[index] + len(delivery.events)]
                retry = [r for r in own if r["event_id"] in taken]
                new_ids[index] += (await self._insert_new(retry)).values()
        return [sorted(ids_) for ids_ in new_ids]

    async def _insert_new(self, rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
        """Ids of the rows inserted by (integration, event id); the others were taken."""
        statement = _insert_new_statement(self._connection)
        inserted: dict[tuple[int, str], int] = {}
        for batch in batched(rows):
            try:
                # One row: a plain execute; a list would take the executemany path.
                result = await self._connection.execute(
                    statement, batch[0] if len(batch) == 1 else list(batch)
                )
            except IntegrityError:
                # Not a duplicate (ON CONFLICT skips those): an integration's row is gone,
                # deleted after the caller looked it up (a cached lookup, for intake).
                raise not_found("integration", batch[0]["integration_id"]) from None
            for row in result:
                inserted[(row.integration_id, row.event_id)] = row.id
        return inserted

    async def _free_stale(self, integration_id: int, event_ids: set[str], cutoff: datetime) -> int:
        """Rename rows holding these ids since before `cutoff` to `<id>~<row id>`; how many.

        Platforms reuse ids (Telegram picks new update ids at random after a week without
        updates; its sandbox restarts them on reset) and retry a delivery for 24 h at most,
        so a slot older than the window is no duplicate. The old row stays, for the record.
        """
        c = inbound_events.c
        statement = (
            update(inbound_events)
            .where(
                c.integration_id == integration_id,
                c.event_id.in_(sorted(event_ids)),
                c.received_at < cutoff,
            )
            .values(event_id=func.substr(c.event_id, 1, 200) + "~" + cast(c.id, String))
        )
        return int((await self._connection.execute(statement)).rowcount or 0)

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

    async def pending_in_chat_of(self, event_id: int) -> ChatBacklog | None:
        """Pending events of `event_id`'s conversation in arrival order, and their tenant (the
        processing needs its AI profile), in one statement; None when none is pending."""
        rows = (await self._connection.execute(_PENDING_IN_CHAT, {"event_id": event_id})).all()
        if not rows:
            return None
        # inbound_events.tenant_id is the tenant's id; its other columns are labelled alike.
        return ChatBacklog(tuple(_event(row) for row in rows), tenant_from(rows[0], "tenant_"))

    async def mark(self, event_id: int, status: EventStatus, *, error: str | None = None) -> bool:
        """Record the outcome of one processing attempt (each call counts as an attempt).

        Only a pending event changes; False when it was no longer pending (another worker
        recorded it). Raises NotFoundError for a missing event.
        """
        done = status is EventStatus.DONE
        return await self._update_pending(
            _MARK,
            event_id,
            new_status=status.value,
            new_error=error,
            new_processed_at=utcnow() if done else None,
            new_next_attempt_at=None,
        )

    async def retry_later(self, event_id: int, error: str, next_attempt_at: datetime) -> bool:
        """A transient failure: count the attempt, keep the event pending until then."""
        return await self._update_pending(
            _RETRY_LATER, event_id, new_error=error, new_next_attempt_at=next_attempt_at
        )

    async def stuck(
        self, received_before: datetime, limit: int, *, now: datetime | None = None
    ) -> list[int]:
        """Pending events to hand out again: a retry that is due (`next_attempt_at` <= now),
        or one never tried whose task is late (received before `received_before`)."""
        now = now or utcnow()
        c = inbound_events.c
        query = (
            select(c.id)
            .where(
                c.status == _PENDING,
                or_(
                    c.next_attempt_at <= now,
                    and_(c.next_attempt_at.is_(None), c.received_at < received_before),
                ),
            )
            .order_by(c.id)
            .limit(limit)
        )
        return ids(await self._connection.execute(query))

    async def list(
        self,
        tenant_id: int,
        *,
        status: EventStatus | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[InboundEvent]:
        """The tenant's events, newest first."""
        query = select(inbound_events).where(inbound_events.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(inbound_events.c.status == status.value)
        query = query.order_by(inbound_events.c.id.desc()).limit(limit).offset(offset)
        return [_event(row) for row in await self._connection.execute(query)]

    async def replay(self, tenant_id: int, event_id: int) -> InboundEvent:
        """Make a failed event pending again, with a fresh count of attempts.

        Raises NotFoundError for another tenant's event, InvalidRequestError if not failed.
        """
        mine = and_(inbound_events.c.id == event_id, inbound_events.c.tenant_id == tenant_id)
        statement = (
            update(inbound_events)
            .where(mine, inbound_events.c.status == EventStatus.FAILED.value)
            .values(status=_PENDING, attempts=0, next_attempt_at=None, processed_at=None)
            .returning(*inbound_events.c)
        )
        row = (await self._connection.execute(statement)).first()
        if row is not None:
            return _event(row)
        status = (
            await self._connection.execute(select(inbound_events.c.status).where(mine))
        ).scalar()
        if status is None:
            raise not_found("inbound event", event_id)
        raise InvalidRequestError(f"inbound event {event_id} is {status}; only failed ones replay")

    async def _update_pending(self, statement: Any, event_id: int, **values: Any) -> bool:
        if (await self._connection.execute(statement, {"row_id": event_id, **values})).rowcount:
            return True
        found = await self._connection.execute(_EXISTS, {"row_id": event_id})
        if found.first() is None:
            raise not_found("inbound event", event_id)
        return False
