"""Inbound processing: a stored event becomes a contact, a conversation, a message and a reply.

`handle_inbound(event_id)` is idempotent and keeps each conversation in order: under the
conversation's lock it processes every pending event of that conversation in arrival order,
so whichever worker gets a task, messages of one chat are handled one after another. A call
to an AI provider runs outside any transaction; a crash in between leaves the event pending
and the recovery sweep hands it out again (the stored message is not duplicated: it is keyed
by event). When the local responder alone answers (no AI integration connected: no network
call), the message, its reply and the event's outcome are recorded in one transaction.

Failures are classified once (`domain.errors.is_transient`). Transient ones (a dropped
database connection, a platform's 5xx or timeout) leave the event pending with the attempt
counted, the error recorded and a retry time by backoff; the events behind it in its chat wait,
and the sweep hands it out when due — until `max_attempts`, after which it fails with "gave up
after N attempts". Anything else (a bug, a payload the hub cannot handle) fails it at once with
the reason. Failed events are listed in the admin API and can be replayed. The reply is stored
in the same transaction that marks the event done, and only if it was still pending: a retry
after an ambiguous commit never stores a second reply.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import structlog

from easyflow.domain.ai import ChatReply
from easyflow.domain.errors import (
    NotFoundError,
    RetryableError,
    TransientStorageError,
    is_transient,
)
from easyflow.domain.messaging import (
    Conversation,
    ConversationStatus,
    EventStatus,
    InboundEvent,
    InboundKind,
    OutboxItem,
    OutboxKind,
    OutboxPayload,
)
from easyflow.domain.tenancy import Integration, Tenant
from easyflow.observability.metrics import Metrics
from easyflow.ports import (
    IntegrationCache,
    Locks,
    TaskQueue,
    UnitOfWork,
    UnitOfWorkFactory,
)
from easyflow.services.conversations import HISTORY_LIMIT, PreparedReply, ReplyService
from easyflow.services.handover import HandoverService
from easyflow.services.retries import RetrySchedule, describe, gave_up

log = structlog.get_logger("easyflow.messaging")


@dataclass(slots=True)
class _Recorded:
    conversation: Conversation
    outbox_ids: list[int]
    prepared: PreparedReply | None  # None: no reply wanted


@dataclass(slots=True)
class _Started:
    """An event recorded and committed, and what is left to do for it."""

    integration: Integration
    conversation_id: int
    outbox_ids: list[int]  # rows to send (queued, unless `claimed` goes out directly)
    prepared: PreparedReply | None = None  # a reply for a provider to compute
    claimed: OutboxItem | None = None  # the reply's row, stored claimed for this worker
    lease: datetime | None = None  # until when `claimed` is ours


# Sends a row the processor stored already claimed (`OutboxSender.deliver_claimed`).
DirectSend = Callable[[OutboxItem, Integration, datetime], Awaitable[None]]


def conversation_lock(conversation_id: int) -> str:
    """The lock a conversation's outbox is sent under, oldest first: one per conversation,
    whatever its rows carry (a callback answer has no chat id), so no two chats share one."""
    return f"outbox:conversation:{conversation_id}"


def inbound_turn(integration_id: int, chat_id: str) -> str:
    """The turn a chat's inbound events are processed in, in arrival order. Apart from the
    outbox's lock: a reply goes out directly only when nothing older of the chat is unsent,
    which its INSERT decides, so sends keep their order without sharing a lock with it."""
    return f"inbound:{integration_id}:{chat_id}"


class InboundProcessor:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        replies: ReplyService,
        queue: TaskQueue,
        locks: Locks,
        metrics: Metrics,
        lock_ttl: float = 120.0,
        retry: RetrySchedule | None = None,
        send_lease: float = 60.0,
        direct_send: DirectSend | None = None,
        integrations: IntegrationCache | None = None,
        handover: HandoverService | None = None,
    ) -> None:
        self._uow = uow
        self._integrations = integrations
        self._handover = handover or HandoverService()
        self._send_lease = timedelta(seconds=send_lease)
        self._direct_send = direct_send
        self._replies = replies
        self._queue = queue
        self._locks = locks
        self._metrics = metrics
        self._lock_ttl = lock_ttl
        self._retry = retry or RetrySchedule()

    async def handle_inbound(self, event_id: int) -> None:
        try:
            await self._handle_conversation(event_id)
        except TransientStorageError as exc:
            # Nothing could be read or recorded: the event is still pending as it was, and
            # the sweep hands it out again.
            log.warning("inbound event left to the sweep", event_id=event_id, error=str(exc))

    async def _handle_conversation(self, event_id: int) -> None:
        # The chat's pending events are read in the transaction that records the first of
        # them (the lock's key and the tenant, with its AI profile, come with them): one
        # transaction, not a read of its own and then another. The chat's turn is taken in
        # between, so the transaction holds its connection for that step too. A worker that
        # finds the chat's turn taken leaves its event to the holder, which was told and
        # looks again before it leaves: nobody waits on a busy chat (a waiting task would
        # hold a job slot, and under a backlog they all would). A holder that took and ended
        # its turn in the instant between this read and our try can leave an event here
        # already done: its answer is then computed in vain and dropped, since only a
        # pending event takes a reply.
        must_be_pending: int | None = event_id  # the first look only: is our event still due?
        while True:
            async with contextlib.AsyncExitStack() as holding_the_turn:
                first: InboundEvent | None = None
                try:
                    async with self._uow() as uow:
                        backlog = await uow.inbound.pending_in_chat_of(event_id)
                        if backlog is None or (
                            must_be_pending is not None
                            and all(each.id != must_be_pending for each in backlog.events)
                        ):
                            return  # done already (the chat's other events have their tasks)
                        head = backlog.events[0]
                        key = inbound_turn(head.integration_id, head.conversation_key)
                        turn = await holding_the_turn.enter_async_context(
                            self._locks.turn(key, self._lock_ttl)
                        )
                        if not turn.mine or _waiting(head):
                            # The holder will find this event when it looks again; a waiting
                            # one, and the chat's later events behind it, go when it is due.
                            return
                        first, rest, tenant = head, backlog.events[1:], backlog.tenant
                        with _about(first):
                            started = await self._record_and_commit(uow, first, tenant)
                except Exception as exc:
                    if first is None:
                        raise  # the read or the turn: nothing was begun for any event
                    if not await self._failed(first, exc):
                        return
                else:
                    if not await self._finish_safely(head, started):
                        return
                for each in rest:
                    if _waiting(each) or not await self._handle_safely(each, tenant):
                        return
            if not turn.again:
                return
            must_be_pending = None  # events that came while we held it

    async def _handle_safely(self, event: InboundEvent, tenant: Tenant) -> bool:
        """Process one event; False when it is to be retried later (the chat stops here)."""
        try:
            async with self._uow() as uow:
                with _about(event):
                    started = await self._record_and_commit(uow, event, tenant)
        except Exception as exc:
            return await self._failed(event, exc)
        return await self._finish_safely(event, started)

    async def _finish_safely(self, event: InboundEvent, started: _Started | None) -> bool:
        """The rest of an event recorded: its reply computed, stored and sent or queued."""
        with _about(event):
            try:
                await self._finish(event, started)
            except Exception as exc:
                return await self._failed(event, exc)
            self._metrics.inbound_processed.labels(event.platform, "done").inc()
            return True

    async def _failed(self, event: InboundEvent, exc: Exception) -> bool:
        """An event's processing raised (its transaction was rolled back): retried later (False,
        the chat stops here) or failed for good (True)."""
        with _about(event):
            if is_transient(exc):
                return await self._retry_later(event, exc)
            log.exception("inbound event failed", exc_info=exc)
            await self._fail(event, describe(exc))
            return True

    async def _retry_later(self, event: InboundEvent, exc: Exception) -> bool:
        attempt = event.attempts + 1
        if self._retry.exhausted(attempt):
            await self._fail(event, gave_up(attempt, describe(exc)))
            return True
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        at = self._retry.next_attempt_at(attempt, retry_after)
        self._metrics.inbound_processed.labels(event.platform, "retry").inc()
        log.warning("inbound event will be retried", error=describe(exc), attempt=attempt)
        try:
            async with self._uow() as uow:
                await uow.inbound.retry_later(event.id, describe(exc), at)
                await uow.commit()
        except TransientStorageError:
            log.warning("could not record the retry; the sweep will find the event pending")
        return False

    async def _fail(self, event: InboundEvent, reason: str) -> None:
        self._metrics.inbound_processed.labels(event.platform, "failed").inc()
        try:
            async with self._uow() as uow:
                await uow.inbound.mark(event.id, EventStatus.FAILED, error=reason)
                await uow.commit()
        except TransientStorageError:
            log.warning("could not record the failure; the event stays pending", error=reason)

    async def _record_and_commit(
        self, uow: UnitOfWork, event: InboundEvent, tenant: Tenant
    ) -> _Started | None:
        """Record the event in `uow` and commit; None when there is nothing more to do."""
        # Ownership was proved at the edge (the webhook's secret named the integration); the
        # integration is read once here, with its decrypted credentials, and passed along.
        integration = await self._integration(uow, event)
        if integration is None or not integration.is_active:
            await uow.inbound.mark(event.id, EventStatus.DONE, error="integration inactive")
            await uow.commit()
            return None
        recorded = await self._record(uow, event, tenant)
        started = _Started(integration, recorded.conversation.id, recorded.outbox_ids)
        prepared = recorded.prepared
        if prepared is not None and self._replies.answers_in_process(prepared):
            # The local responder alone: no provider call, so the answer is computed and
            # stored in this transaction, held no longer than a statement would hold it
            # (one transaction per message instead of two: a BEGIN, a COMMIT and a
            # checkout fewer on the hottest path).
            await self._store_reply(uow, event, started, await self._replies.answer(prepared))
            prepared = None
        await uow.commit()
        started.prepared = prepared
        return started

    async def _finish(self, event: InboundEvent, started: _Started | None) -> None:
        """A recorded event's reply computed by its provider and stored, if still to do; the
        reply sent now or its rows queued."""
        if started is None:
            return
        if started.prepared is not None:
            reply = await self._replies.answer(started.prepared)
            async with self._uow() as uow:
                await self._store_reply(uow, event, started, reply)
                await uow.commit()
        claimed, lease = started.claimed, started.lease
        if claimed is not None and lease is not None and self._direct_send is not None:
            # This worker holds the chat's lock and the chat had nothing unsent: the reply
            # goes out now, without a task, a read and a claim of its own. The row was stored
            # claimed (a lease), so a crash from here on is the sender's "in flight" case.
            await self._direct_send(claimed, started.integration, lease)
            return
        for outbox_id in started.outbox_ids:
            await self._queue.send_outbox(outbox_id)

    async def _integration(self, uow: UnitOfWork, event: InboundEvent) -> Integration | None:
        """The event's integration from the cache intake shares (invalidated on pause,
        resume, rotate and delete in every process), else read, decrypted and cached."""
        cache = self._integrations
        cached = cache.get(event.platform, event.integration_id) if cache else None
        if cached is not None and cached.tenant_id == event.tenant_id:
            return cached
        try:
            integration = await uow.integrations.get(event.tenant_id, event.integration_id)
        except NotFoundError:
            return None
        if integration is not None and cache is not None:
            cache.put(integration)
        return integration

    async def _record(self, uow: UnitOfWork, event: InboundEvent, tenant: Tenant) -> _Recorded:
        """Contact, conversation and message rows for the event, and what should follow."""
        message = event.message
        contact, conversation = await uow.conversations.upsert_with_contact(
            tenant.id, event.integration_id, message.sender, message.chat_id, message.occurred_at
        )
        if conversation.status is ConversationStatus.CLOSED:
            # A closed chat is over; a customer writing again starts it afresh.
            await uow.conversations.set_status(tenant.id, conversation.id, ConversationStatus.OPEN)
            conversation = replace(conversation, status=ConversationStatus.OPEN)
        stored, history = await uow.messages.add_inbound_with_history(
            tenant.id,
            conversation.id,
            text=message.text,
            inbound_event_id=event.id,
            platform_message_id=message.platform_message_id,
            attachments=message.attachments,
            limit=HISTORY_LIMIT,
        )
        outbox_ids = []
        if message.callback_id:  # the customer's client spins until the query is answered
            item = await uow.outbox.add(
                tenant.id,
                event.integration_id,
                OutboxKind.CALLBACK_ANSWER,
                OutboxPayload(chat_id=message.chat_id, callback_id=message.callback_id),
                conversation_id=conversation.id,
            )
            outbox_ids.append(item.id)
        # An edit is recorded but not answered again; a handed-over chat waits for a person.
        wants_reply = (
            message.kind is not InboundKind.EDITED
            and conversation.status is ConversationStatus.OPEN
        )
        if not wants_reply:
            if conversation.status is ConversationStatus.HANDOVER:
                outbox_ids += await self._handover.customer_wrote(
                    uow, tenant, event, conversation, contact, stored
                )
            await uow.inbound.mark(event.id, EventStatus.DONE)
            return _Recorded(conversation, outbox_ids, None)
        ruled = await self._handover.before_reply(uow, tenant, event, conversation, contact, stored)
        if ruled is not None:  # the tenant's rules answered it (a person asked for, a photo)
            await uow.inbound.mark(event.id, EventStatus.DONE)
            return _Recorded(conversation, outbox_ids + ruled, None)
        prepared = await self._replies.prepare(
            uow, tenant, conversation, contact, history, message.shared_phone
        )
        return _Recorded(conversation, outbox_ids, prepared)

    async def _store_reply(
        self, uow: UnitOfWork, event: InboundEvent, started: _Started, reply: ChatReply
    ) -> None:
        """Store the reply and its outbox row (added to `started`), if the event is still
        pending. The row comes back claimed for this worker to send (`started.claimed`) when
        the event had no other rows and the chat has nothing older unsent (FIFO)."""
        conversation_id = started.conversation_id
        if reply.handover or not reply.text:
            if not await uow.inbound.mark(event.id, EventStatus.DONE):
                return  # done already (another worker, or our own commit that looked failed)
            await uow.ai_usage.record(
                event.tenant_id, conversation_id, reply.provider, reply.model, reply.usage
            )
            started.outbox_ids += await self._handover.after_reply(
                uow, event, conversation_id, reply
            )
            return
        started.lease = datetime.now(UTC) + self._send_lease
        sends_itself = self._direct_send is not None and not started.outbox_ids
        item = await uow.outbox.add_reply(
            event, conversation_id, reply, lease_until=started.lease if sends_itself else None
        )
        if item is None:
            return  # done already (another worker, or our own commit that looked failed)
        started.outbox_ids.append(item.id)
        if item.lease_until is not None:
            started.claimed = item


def _about(event: InboundEvent) -> contextlib.AbstractContextManager[None]:
    """The event's ids on every log line within."""
    return structlog.contextvars.bound_contextvars(
        tenant_id=event.tenant_id, integration_id=event.integration_id, event_id=event.id
    )


def _waiting(event: InboundEvent) -> bool:
    """A transient failure scheduled this event's retry for later."""
    return event.next_attempt_at is not None and event.next_attempt_at > datetime.now(UTC)
