"""Notifications: a tenant's templates, rendered for a contact's messenger and queued.

`send_notification(tenant, contact, template, data)` picks the template of that event in the
contact's language (the tenant's own before the built-in one; English, then Russian, when
there is none in theirs), fills every variant with `data`, and stores the message and its
outbox row in one transaction; the sender delivers it under the platform's rate limits, like
any reply. `broadcast` does the same for many contacts with two bulk INSERTs per batch. A
template the data does not fill, an unknown template or contact: a typed 4xx error, and
nothing stored.

The outbox payload (`OutboxPayload`) carries every variant (`text`, `html`, `buttons`,
`template`): each platform's adapter sends the one it supports (`OutboundMessage`).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog

from easyflow.domain.errors import InvalidRequestError, NotFoundError
from easyflow.domain.messaging import OutboundMessage, OutboxPayload
from easyflow.domain.notifications import (
    DEFAULTS,
    NotificationTarget,
    NotificationTemplate,
    StagedNotification,
    choose,
    events_of,
    validate,
)
from easyflow.ports import TaskQueue, UnitOfWork, UnitOfWorkFactory

log = structlog.get_logger("easyflow.notifications")

MAX_RECIPIENTS = 10_000  # per broadcast request: its rows are written in one transaction
KICK_CHUNK = 50  # tasks enqueued at once after the commit


@dataclass(frozen=True, slots=True)
class Recipient:
    contact_id: int
    data: Mapping[str, Any]


def message_payload(message: OutboundMessage, event: str) -> OutboxPayload:
    """The outbox payload of a rendered notification: every variant the adapters choose from."""
    return OutboxPayload(
        message.chat_id,
        message.text,
        buttons=message.buttons,
        template=message.template,
        event=event,
        html=message.html,
    )


async def kick(queue: TaskQueue, outbox_ids: Sequence[int]) -> None:
    """Hand committed rows to the sender, a chunk of tasks at a time: a broadcast's first
    sends start while the rest are still being enqueued, without a round trip per row
    between them. A task lost here is not a message lost: the recovery sweep finds the row."""
    for start in range(0, len(outbox_ids), KICK_CHUNK):
        chunk = outbox_ids[start : start + KICK_CHUNK]
        await asyncio.gather(*(queue.send_outbox(i) for i in chunk))


def render(
    templates: Sequence[NotificationTemplate],
    event: str,
    target: NotificationTarget,
    data: Mapping[str, Any],
) -> StagedNotification:
    """`event`'s notification for `target`, from the tenant's `templates` or the built-ins."""
    template = choose(templates, event, target.language)
    if template is None:
        known = ", ".join(sorted(events_of(templates)))
        raise InvalidRequestError(f"no template {event!r}; the tenant has: {known}")
    message = template.render(target.chat_id, {"name": target.display_name, **data})
    return StagedNotification(
        target.integration_id,
        target.conversation_id,
        message.text,
        message_payload(message, event),
    )


class NotificationService:
    def __init__(self, uow: UnitOfWorkFactory, queue: TaskQueue) -> None:
        self._uow = uow
        self._queue = queue

    async def templates(
        self, tenant_id: int, event: str | None = None
    ) -> builtins.list[NotificationTemplate]:
        """The templates in force: the tenant's own, and the built-ins it has not replaced."""
        async with self._uow() as uow:
            own = await uow.notifications.templates(tenant_id, event)
        replaced = {(t.event, t.language) for t in own}
        builtin = [
            t
            for t in DEFAULTS
            if (t.event, t.language) not in replaced and event in (None, t.event)
        ]
        return sorted([*own, *builtin], key=lambda t: (t.event, t.language))

    async def set_template(
        self, tenant_id: int, template: NotificationTemplate
    ) -> NotificationTemplate:
        template = replace(template, builtin=False)
        validate(template)
        async with self._uow() as uow:
            await uow.notifications.save(tenant_id, template)
            await uow.commit()
        return template

    async def delete_template(self, tenant_id: int, event: str, language: str) -> None:
        """Forget the tenant's own template: a built-in one of that event serves again."""
        async with self._uow() as uow:
            await uow.notifications.delete(tenant_id, event, language)
            await uow.commit()

    async def send_notification(
        self, tenant_id: int, contact_id: int, template: str, data: Mapping[str, Any]
    ) -> int:
        """Queue `template` for one contact; the outbox row's id."""
        [outbox_id] = await self.broadcast(tenant_id, template, [Recipient(contact_id, data)])
        return outbox_id

    async def broadcast(
        self, tenant_id: int, template: str, recipients: Sequence[Recipient]
    ) -> builtins.list[int]:
        """Queue `template` for every recipient, all or nothing; the outbox ids in order."""
        if not recipients:
            return []
        if len(recipients) > MAX_RECIPIENTS:
            raise InvalidRequestError(f"at most {MAX_RECIPIENTS} recipients per request")
        async with self._uow() as uow:
            staged = await self._render_all(uow, tenant_id, template, recipients)
            ids = await uow.notifications.stage(tenant_id, staged)
            await uow.commit()
        log.info("notifications queued", tenant_id=tenant_id, template=template, count=len(ids))
        await kick(self._queue, ids)
        return ids

    async def _render_all(
        self, uow: UnitOfWork, tenant_id: int, event: str, recipients: Sequence[Recipient]
    ) -> builtins.list[StagedNotification]:
        wanted = [r.contact_id for r in recipients]
        targets = {t.contact_id: t for t in await uow.notifications.targets(tenant_id, wanted)}
        missing = sorted(set(wanted) - set(targets))
        if missing:
            shown = ", ".join(str(i) for i in missing[:20]) + (" …" if len(missing) > 20 else "")
            raise NotFoundError(f"no contact with a chat among ids: {shown}")
        templates = await uow.notifications.templates(tenant_id, event)
        return [render(templates, event, targets[r.contact_id], r.data) for r in recipients]
