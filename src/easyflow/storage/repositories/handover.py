"""Handover: a tenant's rules, conversations in a person's hands, and the operators' feed.

The feed (`operator_events`) is append-only history an operator tool pages through by id.
Where the tenant has a webhook, each event also carries its delivery state: claimed in
batches with a lease (a conditional UPDATE, so two workers never post the same event at the
same time), then marked sent, failed (retried at `next_attempt_at`) or dead.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Row

from easyflow.domain.commerce import Order
from easyflow.domain.messaging import (
    Contact,
    ConversationStatus,
    ConversationSummary,
    DeliveryStatus,
    HandoverRules,
    MediaAction,
    OperatorEvent,
    OperatorEventType,
    WorkingHours,
)
from easyflow.domain.phones import national, same_phone
from easyflow.storage.crypto import CredentialCipher
from easyflow.storage.repositories.base import Repository, insert, require_changed
from easyflow.storage.repositories.commerce import _order
from easyflow.storage.repositories.conversations import _conversation
from easyflow.storage.tables import (
    contacts,
    conversations,
    handover_rules,
    integrations,
    messages,
    operator_events,
    orders,
)
from easyflow.storage.types import utcnow

_DUE = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)
# Separators people write phone numbers with: stripped in SQL to compare digits.
_PHONE_SEPARATORS = (" ", "-", "(", ")", "+", ".")


def rules_to_json(rules: HandoverRules) -> dict[str, Any]:
    hours = rules.working_hours
    return {
        "on_request": rules.on_request,
        "keywords": list(rules.keywords),
        "on_model_cannot_help": rules.on_model_cannot_help,
        "media": {kind: action.value for kind, action in rules.media.items()},
        "notice": rules.notice,
        "after_hours_notice": rules.after_hours_notice,
        "cannot_help": rules.cannot_help,
        "working_hours": None
        if hours is None
        else {
            "timezone": hours.timezone,
            "days": list(hours.days),
            "opens": hours.opens.isoformat("minutes"),
            "closes": hours.closes.isoformat("minutes"),
        },
        "operator_integration_id": rules.operator_integration_id,
        "operator_chat_id": rules.operator_chat_id,
        "webhook_url": rules.webhook_url,
    }


def rules_from_json(data: dict[str, Any]) -> HandoverRules:
    defaults = HandoverRules()
    hours = data.get("working_hours")
    return HandoverRules(
        on_request=data.get("on_request", defaults.on_request),
        keywords=tuple(data.get("keywords", ())),
        on_model_cannot_help=data.get("on_model_cannot_help", defaults.on_model_cannot_help),
        media={**defaults.media, **{k: MediaAction(v) for k, v in data.get("media", {}).items()}},
        notice=data.get("notice"),
        after_hours_notice=data.get("after_hours_notice"),
        cannot_help=data.get("cannot_help"),
        working_hours=None
        if hours is None
        else WorkingHours(
            timezone=hours["timezone"],
            days=tuple(hours["days"]),
            opens=time.fromisoformat(hours["opens"]),
            closes=time.fromisoformat(hours["closes"]),
        ),
        operator_integration_id=data.get("operator_integration_id"),
        operator_chat_id=data.get("operator_chat_id"),
        webhook_url=data.get("webhook_url"),
    )


def _event(row: Row) -> OperatorEvent:
    return OperatorEvent(
        id=row.id,
        tenant_id=row.tenant_id,
        conversation_id=row.conversation_id,
        type=OperatorEventType(row.type),
        data=row.data,
        created_at=row.created_at,
        delivery=DeliveryStatus(row.delivery) if row.delivery else None,
        attempts=row.attempts,
        last_error=row.last_error,
    )


class SqlHandoverRepository(Repository):
    def __init__(self, connection: Any, cipher: CredentialCipher) -> None:
        super().__init__(connection)
        self._cipher = cipher

    # ----------------------------------------------------------------------- rules

    async def rules(self, tenant_id: int) -> HandoverRules:
        """The tenant's rules; the defaults until it sets its own."""
        query = select(handover_rules.c.rules).where(handover_rules.c.tenant_id == tenant_id)
        stored = (await self._connection.execute(query)).scalar_one_or_none()
        return HandoverRules() if stored is None else rules_from_json(stored)

    async def set_rules(self, tenant_id: int, rules: HandoverRules) -> None:
        await self._upsert(tenant_id, rules=rules_to_json(rules))

    async def webhook_secret(self, tenant_id: int) -> str | None:
        query = select(handover_rules.c.webhook_secret_encrypted).where(
            handover_rules.c.tenant_id == tenant_id
        )
        token = (await self._connection.execute(query)).scalar_one_or_none()
        return None if token is None else self._cipher.decrypt(token)

    async def set_webhook_secret(self, tenant_id: int, secret: str) -> None:
        await self._upsert(tenant_id, webhook_secret_encrypted=self._cipher.encrypt(secret))

    async def _upsert(self, tenant_id: int, **values: Any) -> None:
        row = {
            "tenant_id": tenant_id,
            "rules": rules_to_json(HandoverRules()),
            "updated_at": utcnow(),
            **values,
        }
        statement = insert(self._connection, handover_rules).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=[handover_rules.c.tenant_id],
            set_={**values, "updated_at": statement.excluded.updated_at},
        )
        await self._connection.execute(statement)

    # ----------------------------------------------------------------------- conversations

    async def hand_over(
        self, tenant_id: int, conversation_id: int, reason: str, at: datetime
    ) -> None:
        statement = (
            update(conversations)
            .where(conversations.c.id == conversation_id, conversations.c.tenant_id == tenant_id)
            .values(
                status=ConversationStatus.HANDOVER.value, handover_reason=reason, handed_over_at=at
            )
        )
        require_changed(await self._connection.execute(statement), "conversation", conversation_id)

    async def summaries(
        self,
        tenant_id: int,
        *,
        status: ConversationStatus | None = ConversationStatus.HANDOVER,
        conversation_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ConversationSummary]:
        """Conversations with their contact, channel and last message; waiting longest first."""
        last = (
            select(messages.c.text)
            .where(messages.c.conversation_id == conversations.c.id)
            .order_by(messages.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = (
            select(
                conversations,
                contacts.c.external_id.label("contact_external_id"),
                contacts.c.display_name,
                contacts.c.username,
                integrations.c.platform,
                last.label("last_message"),
            )
            .join(contacts, contacts.c.id == conversations.c.contact_id)
            .join(integrations, integrations.c.id == conversations.c.integration_id)
            .where(conversations.c.tenant_id == tenant_id)
        )
        if status is not None:
            query = query.where(conversations.c.status == status.value)
        if conversation_id is not None:
            query = query.where(conversations.c.id == conversation_id)
        query = query.order_by(
            conversations.c.handed_over_at.asc().nulls_last(), conversations.c.id
        )
        rows = await self._connection.execute(query.limit(limit).offset(offset))
        return [_summary(row) for row in rows]

    async def orders_for_phone(
        self, tenant_id: int, phone: str | None, limit: int = 20
    ) -> list[Order]:
        """The tenant's orders placed with this phone number, newest first."""
        wanted = national(phone)
        if len(wanted) < 7:
            return []
        stripped: Any = orders.c.customer_phone
        for separator in _PHONE_SEPARATORS:
            stripped = func.replace(stripped, separator, "")
        query = (
            select(orders)
            .where(orders.c.tenant_id == tenant_id, stripped.like(f"%{wanted}"))
            .order_by(orders.c.updated_at.desc(), orders.c.id)
            .limit(limit)
        )
        found = [_order(row) for row in await self._connection.execute(query)]
        return [o for o in found if same_phone(o.customer_phone, phone)]

    # ----------------------------------------------------------------------- events

    async def add_event(
        self,
        tenant_id: int,
        conversation_id: int | None,
        type_: OperatorEventType,
        data: dict[str, Any],
        *,
        deliver: bool,
    ) -> OperatorEvent:
        now = utcnow()
        values = {
            "tenant_id": tenant_id,
            "conversation_id": conversation_id,
            "type": type_.value,
            "data": data,
            "delivery": DeliveryStatus.PENDING.value if deliver else None,
            "attempts": 0,
            "next_attempt_at": now if deliver else None,
            "created_at": now,
        }
        statement = operator_events.insert().values(values).returning(*operator_events.c)
        return _event((await self._connection.execute(statement)).one())

    async def events(
        self, tenant_id: int, *, after_id: int = 0, limit: int = 100
    ) -> list[OperatorEvent]:
        """The feed after `after_id`, oldest first: page on with the last id seen."""
        query = (
            select(operator_events)
            .where(operator_events.c.tenant_id == tenant_id, operator_events.c.id > after_id)
            .order_by(operator_events.c.id)
            .limit(limit)
        )
        return [_event(row) for row in await self._connection.execute(query)]

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[OperatorEvent]:
        """Events whose webhook delivery is due and not held by a live lease, now held."""
        claimable = and_(
            operator_events.c.delivery.in_(_DUE),
            operator_events.c.next_attempt_at <= now,
            or_(operator_events.c.lease_until.is_(None), operator_events.c.lease_until < now),
        )
        due = (
            select(operator_events.c.id)
            .where(claimable)
            .order_by(operator_events.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        statement = (
            update(operator_events)
            .where(operator_events.c.id.in_(due), claimable)
            .values(lease_until=lease_until, attempts=operator_events.c.attempts + 1)
            .returning(*operator_events.c)
        )
        rows = (await self._connection.execute(statement)).all()
        return sorted((_event(row) for row in rows), key=lambda e: e.id)

    async def delivered(self, event_ids: Sequence[int], now: datetime) -> None:
        if not event_ids:
            return
        statement = (
            update(operator_events)
            .where(operator_events.c.id.in_(list(event_ids)))
            .values(
                delivery=DeliveryStatus.SENT.value,
                delivered_at=now,
                lease_until=None,
                last_error=None,
            )
        )
        await self._connection.execute(statement)

    async def delivery_failed(
        self, event_id: int, error: str, *, next_attempt_at: datetime, dead: bool
    ) -> None:
        status = DeliveryStatus.DEAD if dead else DeliveryStatus.FAILED
        statement = (
            update(operator_events)
            .where(operator_events.c.id == event_id)
            .values(
                delivery=status.value,
                last_error=error[:1000],
                next_attempt_at=next_attempt_at,
                lease_until=None,
            )
        )
        await self._connection.execute(statement)


def _summary(row: Row) -> ConversationSummary:
    contact = Contact(
        id=row.contact_id,
        tenant_id=row.tenant_id,
        integration_id=row.integration_id,
        external_id=row.contact_external_id,
        display_name=row.display_name,
        username=row.username,
    )
    return ConversationSummary(
        conversation=_conversation(row),
        contact=contact,
        platform=row.platform,
        handover_reason=row.handover_reason,
        handed_over_at=row.handed_over_at,
        last_message=row.last_message,
    )
