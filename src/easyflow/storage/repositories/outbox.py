"""The outbox: every reply and notification waits here until a worker delivers it.

A worker claims a row with a conditional UPDATE … RETURNING: it wins only if the row is due
(pending or failed, `next_attempt_at` reached) and no live lease holds it, so two workers
cannot both send it. The lease (`lease_until`) marks a row in flight; the domain has no
"sending" status. A result releases the lease (sent, failed, dead), so a row whose lease
is still set once it lapsed was in flight when its worker died: it may have reached the
platform. The claim that takes such a row over says so (`in_doubt`), and the sender either
repeats the send with the same idempotency key or marks the row unconfirmed for a person.
Each claim counts as an attempt. Dead and unconfirmed rows stay for inspection and replay.

Every recorded outcome also appends a row to `outbox_attempts` (the message's delivery history)
in the same statement where the database allows it: on PostgreSQL the outbox UPDATE is a
data-modifying CTE feeding the INSERT, so recording a result stays one round trip; SQLite has
no DML in CTEs and takes one more statement.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    Update,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.sql.expression import Executable

from easyflow.domain.ai import ChatReply
from easyflow.domain.errors import InvalidRequestError
from easyflow.domain.messaging import (
    AttemptOutcome,
    DeliveryAttempt,
    DeliveryStatus,
    EventStatus,
    InboundEvent,
    MessageAuthor,
    MessageDirection,
    OutboxItem,
    OutboxKind,
    OutboxPayload,
)
from easyflow.storage.repositories.base import (
    Repository,
    ids,
    not_found,
    owned_insert,
    owned_params,
    require_changed,
    with_python_defaults,
)
from easyflow.storage.repositories.commerce import SqlAiUsageRepository, usage_row
from easyflow.storage.repositories.inbound import SqlInboundEventRepository
from easyflow.storage.repositories.messages import SqlMessageRepository, message_row
from easyflow.storage.sqlite_driver import RIDES_ALONG
from easyflow.storage.tables import (
    ai_usage,
    conversations,
    inbound_events,
    integrations,
    messages,
    outbox,
    outbox_attempts,
)
from easyflow.storage.types import utcnow

_RETRYABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)
_REPLAYABLE = (DeliveryStatus.DEAD.value, DeliveryStatus.UNCONFIRMED.value)


def _item(row: Row) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        tenant_id=row.tenant_id,
        integration_id=row.integration_id,
        conversation_id=row.conversation_id,
        message_id=row.message_id,
        kind=OutboxKind(row.kind),
        payload=OutboxPayload.from_json(row.payload),
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        last_error=row.last_error,
        lease_until=row.lease_until,
        customer_wrote_at=row._mapping.get("customer_wrote_at"),
    )


def _customer_wrote_at() -> Any:
    """The row's conversation's last inbound message time, to read along with the row."""
    # Spelled out: RETURNING renders columns without their table (SQLite), which would
    # leave a correlated `outbox.conversation_id` ambiguous inside the subquery.
    wrote = conversations.alias("wrote")
    row_conversation: ColumnElement[int] = literal_column(f"{outbox.name}.conversation_id")
    query = select(wrote.c.last_message_at).where(wrote.c.id == row_conversation)
    return query.scalar_subquery().label("customer_wrote_at")


def _with_conversation() -> tuple[Any, ...]:
    return (*outbox.c, _customer_wrote_at())


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        outbox.c.status.in_(_RETRYABLE),
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )


class _Attempt:
    """An attempt row to append for the outbox row an UPDATE … RETURNING (id, attempts) hit."""

    def __init__(
        self,
        outcome: AttemptOutcome,
        at: datetime,
        *,
        error: str | None = None,
        platform_message_id: str | None = None,
    ) -> None:
        self.outcome, self.at = outcome, at
        self.error, self.platform_message_id = error, platform_message_id

    def values(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "error": self.error,
            "platform_message_id": self.platform_message_id,
            "at": self.at,
        }

    def insert_from(self, changed: Any) -> Any:
        """INSERT … SELECT from the rows of a CTE of the UPDATE (PostgreSQL)."""
        a = outbox_attempts.c
        columns = [a.outbox_id, a.attempt, a.outcome, a.error, a.platform_message_id, a.at]
        source = select(
            changed.c.id,
            changed.c.attempts,
            literal(self.outcome.value, a.outcome.type),
            literal(self.error, a.error.type),
            literal(self.platform_message_id, a.platform_message_id.type),
            literal(self.at, a.at.type),
        )
        return insert(outbox_attempts).from_select(columns, source)


# A delivery recorded (`mark_sent` with its message), from statements built once. Parameters:
# b_outbox_id, b_now, b_pmid (the platform's id, or None to keep the message's), b_tenant_id,
# b_message_id.
_SENT_ROW = (
    update(outbox)
    .where(outbox.c.id == bindparam("b_outbox_id"))
    .values(status=DeliveryStatus.SENT.value, sent_at=bindparam("b_now"), lease_until=None)
    .returning(outbox.c.id, outbox.c.attempts)
)
_SENT_ATTEMPT = {"outcome": AttemptOutcome.SENT.value, "error": None}  # + ids, pmid, at
# An attempt row (SQLite): nobody reads its outcome, so it rides with the transaction's next
# hop, the COMMIT (storage/sqlite_driver.py).
_ATTEMPT_RIDES_ALONG = insert(outbox_attempts).execution_options(**{RIDES_ALONG: True})
_MESSAGE_SENT = (
    update(messages)
    .where(
        messages.c.id == bindparam("b_message_id"),
        messages.c.tenant_id == bindparam("b_tenant_id"),
    )
    .values(
        status=DeliveryStatus.SENT.value,
        error=None,
        sent_at=bindparam("b_now"),
        platform_message_id=func.coalesce(
            bindparam("b_pmid", type_=messages.c.platform_message_id.type),
            messages.c.platform_message_id,
        ),
    )
)


@functools.cache
def _sent_with_message() -> Executable:
    """PostgreSQL: the three writes of a delivery in one statement (data-modifying CTEs). No
    row returned: the outbox row or its message was not found."""
    sent = _SENT_ROW.cte("sent_row")
    a = outbox_attempts.c
    logged = insert(outbox_attempts).from_select(
        [a.outbox_id, a.attempt, a.outcome, a.error, a.platform_message_id, a.at],
        select(
            sent.c.id,
            sent.c.attempts,
            literal(AttemptOutcome.SENT.value, a.outcome.type),
            null(),
            bindparam("b_pmid", type_=a.platform_message_id.type),
            bindparam("b_now", type_=a.at.type),
        ),
    )
    return (
        _MESSAGE_SENT.where(exists(select(sent.c.id)))
        .returning(messages.c.id)
        .add_cte(sent)
        .add_cte(logged.cte("attempt_row"))
    )


@functools.cache
def _outbox_insert(dialect: str, names: tuple[str, ...], first_in_line: bool) -> Executable:
    """A new row of the integration's outbox, built once per dialect and set of columns.

    `first_in_line`: the row is leased (`:lease_until`, first attempt) only if its
    conversation has nothing older unsent, which goes first — decided in the statement."""
    computed: dict[str, ColumnElement[Any]] = {}
    if first_in_line:
        queued = exists().where(
            outbox.c.conversation_id == bindparam("conversation_id"),
            outbox.c.status.in_(_RETRYABLE),
        )
        lease = bindparam("lease_until", type_=outbox.c.lease_until.type)
        computed["lease_until"] = case((queued, null()), else_=lease)
        computed["attempts"] = case((queued, 0), else_=1)
    insertion = owned_insert(dialect, outbox, names, owner=integrations, computed=computed)
    return insertion.returning(*_with_conversation())


@functools.cache
def _reply_statement(
    usage_names: tuple[str, ...], message_names: tuple[str, ...], item_names: tuple[str, ...]
) -> Executable:
    """`add_reply` on PostgreSQL: one statement of data-modifying CTEs, built once per set of
    columns. Every insert reads from the event's UPDATE, so nothing is written unless the
    event was still pending; the final SELECT returns the event's id (no row: it was not)
    and the new outbox row (NULLs: the conversation or integration is not the tenant's).
    Parameters: e_id, e_now, and the columns of each insert prefixed u_, m_ and o_."""
    ie = inbound_events.c
    done = (
        update(inbound_events)
        .where(ie.id == bindparam("e_id"), ie.status == EventStatus.PENDING.value)
        .values(
            status=EventStatus.DONE.value,
            attempts=ie.attempts + 1,
            error=None,
            processed_at=bindparam("e_now", type_=ie.processed_at.type),
            next_attempt_at=None,
        )
        .returning(ie.id)
        .cte("done_event")
    )

    def values(table: Table, names: tuple[str, ...], prefix: str) -> list[Any]:
        return [bindparam(prefix + name, type_=table.c[name].type) for name in names]

    usage = insert(ai_usage).from_select(
        usage_names, select(*values(ai_usage, usage_names, "u_")).select_from(done)
    )
    conversation_owned = exists().where(
        conversations.c.id == bindparam("m_conversation_id"),
        conversations.c.tenant_id == bindparam("m_tenant_id"),
    )
    message = (
        insert(messages)
        .from_select(
            message_names,
            select(*values(messages, message_names, "m_"))
            .select_from(done)
            .where(conversation_owned),
        )
        .returning(messages.c.id)
        .cte("reply_message")
    )
    integration_owned = exists().where(
        integrations.c.id == bindparam("o_integration_id"),
        integrations.c.tenant_id == bindparam("o_tenant_id"),
    )
    queued = exists().where(
        outbox.c.conversation_id == bindparam("o_conversation_id"),
        outbox.c.status.in_(_RETRYABLE),
    )
    lease = bindparam("o_lease_until", type_=outbox.c.lease_until.type)
    item = (
        insert(outbox)
        .from_select(
            [*item_names, "message_id", "lease_until", "attempts"],
            select(
                *values(outbox, item_names, "o_"),
                message.c.id,
                case((queued, null()), else_=lease),
                case((queued, 0), (lease.is_(None), 0), else_=1),
            )
            .select_from(message)
            .where(integration_owned),
        )
        .returning(*_with_conversation())
        .cte("reply_item")
    )
    return (
        select(done.c.id.label("done_event_id"), item)
        .select_from(done.outerjoin(item, true()))
        .add_cte(usage.cte("usage_row"))
    )


def _new_row(
    tenant_id: int,
    integration_id: int,
    conversation_id: int | None,
    kind: OutboxKind,
    payload: OutboxPayload,
    now: datetime,
) -> dict[str, Any]:
    """A new row's columns, pending and due now; the claim's columns are the caller's."""
    return {
        "tenant_id": tenant_id,
        "integration_id": integration_id,
        "conversation_id": conversation_id,
        "kind": kind.value,
        "payload": payload.to_json(),
        "status": DeliveryStatus.PENDING.value,
        "next_attempt_at": now,
        "created_at": now,
    }


class SqlOutboxRepository(Repository):
    async def add(
        self,
        tenant_id: int,
        integration_id: int,
        kind: OutboxKind,
        payload: OutboxPayload,
        *,
        conversation_id: int | None = None,
        message_id: int | None = None,
        lease_until: datetime | None = None,
        lease_if_first: bool = False,
    ) -> OutboxItem:
        """A pending row, due now; with `lease_until`, claimed already by the caller (its
        first attempt), as `claim` would: it sends the row itself, without another claim.

        `lease_if_first`: claimed only if its conversation has nothing older unsent (which
        goes first), decided in the same statement; the row's `lease_until` tells which."""
        values = _new_row(tenant_id, integration_id, conversation_id, kind, payload, utcnow())
        values |= {
            "message_id": message_id,
            "lease_until": lease_until,
            "attempts": 0 if lease_until is None else 1,
        }
        first_in_line = lease_until is not None and lease_if_first and conversation_id is not None
        statement = _outbox_insert(self._connection.dialect.name, tuple(values), first_in_line)
        params = owned_params(outbox, values, integration_id)
        row = (await self._connection.execute(statement, params)).first()
        if row is None:
            raise not_found("integration", integration_id)
        return _item(row)

    async def add_reply(
        self,
        event: InboundEvent,
        conversation_id: int,
        reply: ChatReply,
        *,
        lease_until: datetime | None,
    ) -> OutboxItem | None:
        """See `ports.OutboxRepository.add_reply`."""
        tenant_id, integration_id = event.tenant_id, event.integration_id
        text, usage = reply.text or "", reply.usage
        payload = OutboxPayload(chat_id=event.message.chat_id, text=text)
        message: dict[str, Any] = {
            "direction": MessageDirection.OUTBOUND,
            "author": MessageAuthor.ASSISTANT,
            "text": text,
            "status": DeliveryStatus.PENDING,
        }
        if self._connection.dialect.name != "postgresql":
            if not await SqlInboundEventRepository(self._connection).mark(
                event.id, EventStatus.DONE
            ):
                return None
            await SqlAiUsageRepository(self._connection).record(
                tenant_id, conversation_id, reply.provider, reply.model, usage
            )
            stored = await SqlMessageRepository(self._connection).add(
                tenant_id, conversation_id, **message
            )
            return await self.add(
                tenant_id,
                integration_id,
                OutboxKind.MESSAGE,
                payload,
                conversation_id=conversation_id,
                message_id=stored.id,
                lease_until=lease_until,
                lease_if_first=True,
            )
        now = utcnow()
        usage_values = with_python_defaults(
            ai_usage, usage_row(tenant_id, conversation_id, reply.provider, reply.model, usage)
        )
        message_values = with_python_defaults(
            messages, message_row(tenant_id, conversation_id, **message)
        )
        item_values = with_python_defaults(
            outbox,
            _new_row(tenant_id, integration_id, conversation_id, OutboxKind.MESSAGE, payload, now),
        )
        for computed in ("message_id", "lease_until", "attempts"):  # the statement's own
            item_values.pop(computed, None)
        statement = _reply_statement(tuple(usage_values), tuple(message_values), tuple(item_values))
        params = {
            "e_id": event.id,
            "e_now": now,
            "o_lease_until": lease_until,
            **{"u_" + name: value for name, value in usage_values.items()},
            **{"m_" + name: value for name, value in message_values.items()},
            **{"o_" + name: value for name, value in item_values.items()},
        }
        row = (await self._connection.execute(statement, params)).first()
        if row is None:
            return None  # no longer pending: nothing was written
        if row.id is None:
            raise not_found("conversation or integration", (conversation_id, integration_id))
        return _item(row)

    async def claim(
        self, outbox_id: int, now: datetime, lease_until: datetime
    ) -> OutboxItem | None:
        """Take the row for sending if it is due and nobody holds it; None otherwise.

        `in_doubt` on the result: the row still had a (lapsed) lease, so an earlier attempt
        ended without a result and may have reached the platform.
        """
        current = (
            await self._connection.execute(
                select(outbox.c.lease_until).where(outbox.c.id == outbox_id, _claimable(now))
            )
        ).first()
        if current is None:
            return None
        previous = current.lease_until
        # Compare-and-set on the lease: of two racing claimers only one still matches it.
        same_lease = (
            outbox.c.lease_until.is_(None) if previous is None else outbox.c.lease_until == previous
        )
        statement = (
            update(outbox)
            .where(outbox.c.id == outbox_id, _claimable(now), same_lease)
            .values(lease_until=lease_until, attempts=outbox.c.attempts + 1)
            .returning(*_with_conversation())
        )
        row = (await self._connection.execute(statement)).first()
        return None if row is None else replace(_item(row), in_doubt=previous is not None)

    async def mark_sent(
        self,
        outbox_id: int,
        now: datetime,
        *,
        message: tuple[int, int] | None = None,
        platform_message_id: str | None = None,
    ) -> None:
        """The platform accepted it: true whoever holds the row now, so unconditional.

        `message` (tenant id, message id): that message is marked sent too, with the
        platform's id for it — in the same statement on PostgreSQL (a data-modifying CTE),
        so a unit of work in autocommit records a delivery atomically in one round trip.
        """
        if message is None:
            history = _Attempt(AttemptOutcome.SENT, now, platform_message_id=platform_message_id)
            sent = (
                update(outbox)
                .where(outbox.c.id == outbox_id)
                .values(status=DeliveryStatus.SENT.value, sent_at=now, lease_until=None)
            )
            if not await self._with_attempt(sent, history):
                raise not_found("outbox row", outbox_id)
            return
        tenant_id, message_id = message
        params = {
            "b_outbox_id": outbox_id,
            "b_now": now,
            "b_pmid": platform_message_id,
            "b_tenant_id": tenant_id,
            "b_message_id": message_id,
        }
        if self._connection.dialect.name == "postgresql":
            if (await self._connection.execute(_sent_with_message(), params)).first() is None:
                raise not_found("outbox row or its message", (outbox_id, message_id))
            return
        row = (await self._connection.execute(_SENT_ROW, params)).first()
        if row is None:
            raise not_found("outbox row", outbox_id)
        result = await self._connection.execute(_MESSAGE_SENT, params)
        require_changed(result, "message", message_id)
        attempt = {"outbox_id": row.id, "attempt": row.attempts, "at": now}
        attempt |= _SENT_ATTEMPT | {"platform_message_id": platform_message_id}
        await self._connection.execute(_ATTEMPT_RIDES_ALONG, attempt)

    async def mark_failed(
        self,
        outbox_id: int,
        error: str,
        *,
        next_attempt_at: datetime,
        dead: bool,
        lease_until: datetime | None = None,
    ) -> bool:
        """Release the row: retried at `next_attempt_at`, or never again when `dead`.

        With `lease_until` (the claimer's lease) only while that lease still holds the row:
        False when another worker has taken it over since, and nothing changes.
        """
        status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
        values = {
            "status": status.value,
            "last_error": error,
            "next_attempt_at": next_attempt_at,
            "lease_until": None,
        }
        outcome = AttemptOutcome.DEAD if dead else AttemptOutcome.RETRY
        history = _Attempt(outcome, utcnow(), error=error)
        statement = update(outbox).where(outbox.c.id == outbox_id).values(**values)
        if lease_until is None:
            if not await self._with_attempt(statement, history):
                raise not_found("outbox row", outbox_id)
            return True
        statement = statement.where(
            outbox.c.lease_until == lease_until, outbox.c.status.in_(_RETRYABLE)
        )
        return await self._with_attempt(statement, history)

    async def mark_unconfirmed(self, outbox_id: int, reason: str) -> None:
        """An attempt's outcome is unknown and repeating it could double it: a person decides."""
        statement = (
            update(outbox)
            .where(outbox.c.id == outbox_id)
            .values(status=DeliveryStatus.UNCONFIRMED.value, last_error=reason, lease_until=None)
        )
        history = _Attempt(AttemptOutcome.UNCONFIRMED, utcnow(), error=reason)
        if not await self._with_attempt(statement, history):
            raise not_found("outbox row", outbox_id)

    async def history(
        self, tenant_id: int, outbox_id: int
    ) -> tuple[OutboxItem, builtins.list[DeliveryAttempt]]:
        """The tenant's row and every attempt recorded for it, oldest first (NotFoundError
        for another tenant's row)."""
        row = (
            await self._connection.execute(
                select(outbox).where(outbox.c.id == outbox_id, outbox.c.tenant_id == tenant_id)
            )
        ).first()
        if row is None:
            raise not_found("outbox row", outbox_id)
        a = outbox_attempts.c
        query = select(outbox_attempts).where(a.outbox_id == outbox_id).order_by(a.id)
        attempts = [
            DeliveryAttempt(
                attempt=r.attempt,
                outcome=AttemptOutcome(r.outcome),
                at=r.at,
                error=r.error,
                platform_message_id=r.platform_message_id,
            )
            for r in await self._connection.execute(query)
        ]
        return _item(row), attempts

    async def _with_attempt(self, statement: Update, history: _Attempt) -> bool:
        """Run an UPDATE of one outbox row and append its attempt row; False when the UPDATE
        matched nothing (and nothing was appended). One statement on PostgreSQL."""
        changed = statement.returning(outbox.c.id, outbox.c.attempts)
        if self._connection.dialect.name == "postgresql":
            row = changed.cte("changed_row")
            logged = history.insert_from(row).returning(outbox_attempts.c.id).add_cte(row)
            return (await self._connection.execute(logged)).first() is not None
        updated = (await self._connection.execute(changed)).first()
        if updated is None:
            return False
        await self._connection.execute(
            _ATTEMPT_RIDES_ALONG,
            {"outbox_id": updated.id, "attempt": updated.attempts, **history.values()},
        )
        return True

    async def get(self, outbox_id: int) -> OutboxItem | None:
        row = (
            await self._connection.execute(
                select(*_with_conversation()).where(outbox.c.id == outbox_id)
            )
        ).first()
        return _item(row) if row else None

    async def unsent_for_conversation(self, conversation_id: int) -> list[OutboxItem]:
        """Pending and failed rows of one conversation, oldest first (its send queue)."""
        query = (
            select(*_with_conversation())
            .where(outbox.c.conversation_id == conversation_id, outbox.c.status.in_(_RETRYABLE))
            .order_by(outbox.c.id)
        )
        return [_item(row) for row in await self._connection.execute(query)]

    async def due(
        self, now: datetime, limit: int, *, fresh_before: datetime | None = None
    ) -> list[int]:
        """Rows to hand out: a lapsed lease (its worker died) or a failed row's retry that is
        due now; a pending row never tried only once due before `fresh_before` (default
        `now`), since its own task is probably still queued."""
        fresh_before = fresh_before or now
        c = outbox.c
        lapsed = and_(c.lease_until.is_not(None), c.lease_until < now)
        retry_due = and_(c.status == DeliveryStatus.FAILED.value, c.next_attempt_at <= now)
        late = and_(c.status == DeliveryStatus.PENDING.value, c.next_attempt_at <= fresh_before)
        query = (
            select(c.id)
            .where(_claimable(now), or_(lapsed, retry_due, late))
            .order_by(c.next_attempt_at, c.id)
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

    async def requeue_window_closed(
        self,
        tenant_id: int,
        integration_id: int,
        platform_message_ids: Sequence[str],
        reason: str,
        now: datetime,
    ) -> builtins.list[tuple[int, str]]:
        """Queue sent messages again with `window_closed` set in their payload, so that they
        go out as a template; each gets a REQUEUED attempt with `reason`, its message goes
        back to pending. Rows that are templates already, or were queued so once, are not
        (a template refused for the window would otherwise loop)."""
        if not platform_message_ids:
            return []
        query = (
            select(
                outbox.c.id, outbox.c.payload, outbox.c.message_id, messages.c.platform_message_id
            )
            .join(messages, messages.c.id == outbox.c.message_id)
            .where(
                messages.c.tenant_id == tenant_id,
                messages.c.platform_message_id.in_(list(platform_message_ids)),
                outbox.c.tenant_id == tenant_id,
                outbox.c.integration_id == integration_id,
                outbox.c.kind == OutboxKind.MESSAGE.value,
                outbox.c.status == DeliveryStatus.SENT.value,
            )
        )
        found = []
        for row in await self._connection.execute(query):
            payload = OutboxPayload.from_json(row.payload)
            if payload.template is None and not payload.window_closed:
                found.append((row, replace(payload, window_closed=True)))
        if not found:
            return []
        await self._connection.execute(
            update(outbox)
            .where(outbox.c.id == bindparam("b_id"), outbox.c.status == DeliveryStatus.SENT.value)
            .values(
                payload=bindparam("b_payload"),
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                last_error=reason,
            ),
            [{"b_id": row.id, "b_payload": payload.to_json()} for row, payload in found],
        )
        history = _Attempt(AttemptOutcome.REQUEUED, now, error=reason).values()
        await self._connection.execute(
            insert(outbox_attempts),
            [{"outbox_id": row.id, "attempt": 0, **history} for row, _ in found],
        )
        await self._connection.execute(
            update(messages)
            .where(
                messages.c.tenant_id == tenant_id,
                messages.c.id.in_([row.message_id for row, _ in found]),
            )
            .values(status=DeliveryStatus.PENDING.value, error=reason)
        )
        return [(row.id, row.platform_message_id) for row, _ in found]

    async def replay(self, tenant_id: int, outbox_id: int, now: datetime) -> None:
        """Send a dead or unconfirmed row again, with a fresh count of attempts.

        Raises NotFoundError for another tenant's row, InvalidRequestError for other states.
        """
        mine = and_(outbox.c.id == outbox_id, outbox.c.tenant_id == tenant_id)
        statement = (
            update(outbox)
            .where(mine, outbox.c.status.in_(_REPLAYABLE))
            .values(
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
            )
        )
        if await self._with_attempt(statement, _Attempt(AttemptOutcome.REPLAYED, now)):
            return
        status = (await self._connection.execute(select(outbox.c.status).where(mine))).scalar()
        if status is None:
            raise not_found("outbox row", outbox_id)
        raise InvalidRequestError(
            f"outbox row {outbox_id} is {status}; only dead rows replay, and unconfirmed ones"
        )
