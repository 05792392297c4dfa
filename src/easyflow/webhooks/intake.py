"""Webhook intake: verify -> read -> parse -> dedupe and store -> enqueue -> ack.

The integration (decrypted secrets, status, tenant) comes from an in-process cache that
IntegrationService invalidates (ports.IntegrationCache), and the events are stored by one
`INSERT … ON CONFLICT DO NOTHING RETURNING` in autocommit: an accepted delivery costs at most
one database round trip, committed before the ack. Concurrent deliveries share it: those
that arrive while a statement is on the wire are stored together by the next one (a group
commit), so under load the round trips, statements and commits per delivery fall below one,
while a lone delivery waits for nobody.

Nothing is stored for a request that fails authentication, and the platform's ack is
returned only after the events are committed, so an acknowledged update is never lost. A
redelivered update finds its event id taken and has no second effect.

Where the scheme proves the sender by a header alone (Telegram's secret token), that check
runs before a byte of the body is read: an unauthenticated sender cannot make the hub read or
buffer anything. The body is read once (bounded by api/limits.py) and decoded once.

An authenticated event whose content the hub cannot process is stored as `failed` with the
reason and acknowledged: an error answer would make the platform retry it for a day and, on
Telegram, hold up every later message of that chat.

Every messenger goes through the same steps (`ports.MessengerWebhook`): a GET is the
platform's verification handshake (WhatsApp), answered without touching the database beyond
the integration; a POST is authenticated with the platform's scheme and key, may be a
handshake owed an answer before anything is stored (VK `confirmation`), and is otherwise
parsed into customer messages (stored as above), delivery updates and lifecycle events
(handed to the `DeliveryTracker` when one is wired). The answer is the platform's own:
Telegram JSON, WhatsApp `{"status": "ok"}`, VK plain `ok`, Viber an empty 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from easyflow.domain.errors import MalformedPayloadError, NotFoundError, WebhookSignatureError
from easyflow.domain.messaging import (
    InboundKind,
    InboundMessage,
    NewInboundEvents,
    Sender,
    WebhookEvent,
    WebhookReply,
)
from easyflow.domain.tenancy import Integration
from easyflow.observability.metrics import Metrics
from easyflow.ports import (
    Adapters,
    DeliveryTracker,
    IntegrationCache,
    MessengerWebhook,
    TaskQueue,
    UnitOfWorkFactory,
)
from easyflow.webhooks.inbound import MethodNotAllowedError, full_parser
from easyflow.webhooks.payloads import UnprocessableEventError, decode_json

log = structlog.get_logger("easyflow.webhooks")

BodyReader = Callable[[], Awaitable[bytes]]


class WebhookIntake:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        adapters: Adapters,
        queue: TaskQueue,
        metrics: Metrics,
        cache: IntegrationCache,
        *,
        platforms: Sequence[str] = (),
        tracker: DeliveryTracker | None = None,
    ) -> None:
        self._uow = uow
        # Every platform with a webhook: an id of another platform's integration is a 404.
        self._platforms = tuple(platforms)
        self._tracker = tracker
        self._cache = cache
        self._adapters = adapters
        self._queue = queue
        self._metrics = metrics
        # Labelled counters by their labels: `labels()` costs a lock and a tuple build per call.
        self._counters: dict[tuple[str, ...], Any] = {}
        self._writer = GroupedInserts(uow)
        self._parsers: dict[str, MessengerWebhook] = {}

    async def receive(
        self,
        platform: str,
        integration_id: int | None,
        headers: Mapping[str, str],
        read_body: BodyReader,
    ) -> dict[str, Any]:
        """`deliver`, answering with the parser's `ack` (the original JSON-only interface)."""
        await self.deliver(platform, integration_id, headers, read_body)
        return self._parser(platform).ack

    async def deliver(
        self,
        platform: str,
        integration_id: int | None,
        headers: Mapping[str, str],
        read_body: BodyReader,
    ) -> WebhookReply:
        """Store the delivery's events and return the answer the platform expects.

        `read_body` is called at most once, and only after what the headers can prove.
        """
        parser = self._parser(platform)
        try:
            new_ids, outcome, reply = await self._store(parser, integration_id, headers, read_body)
        except WebhookSignatureError:
            self._counter("webhooks", platform, "unauthenticated").inc()
            raise
        except MalformedPayloadError:
            self._counter("webhooks", platform, "malformed").inc()
            raise
        self._counter("webhooks", platform, outcome).inc()
        self._counter("webhook_events", platform).inc(len(new_ids))
        for event_id in new_ids:
            try:
                await self._queue.process_inbound(event_id)
            except Exception:
                # Committed already: the recovery sweep will pick it up.
                log.exception("could not enqueue inbound event", event_id=event_id)
        return reply

    async def handshake(
        self, platform: str, integration_id: int, query: Mapping[str, str]
    ) -> WebhookReply:
        """The platform's GET verification (WhatsApp's hub.challenge); nothing is stored."""
        parser = self._parser(platform)
        if not parser.verifies_by_get:
            raise MethodNotAllowedError(f"{platform} sends no GET to its webhook")
        integration = await self._integration(parser, integration_id, {})
        if integration is None:
            self._counter("webhooks", platform, "unauthenticated").inc()
            raise WebhookSignatureError("no integration for this webhook")
        reply = parser.handshake(integration, query)
        self._counter("webhooks", platform, "handshake").inc()
        return reply

    def _counter(self, family: str, *labels: str) -> Any:
        """The labelled child of a metrics family, looked up once (platforms are known ones:
        an unknown platform raises before anything is counted)."""
        key = (family, *labels)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = getattr(self._metrics, family).labels(*labels)
        return counter

    def _parser(self, platform: str) -> MessengerWebhook:
        parser = self._parsers.get(platform)
        if parser is None:  # an unknown platform raises, and is not kept
            parser = self._parsers[platform] = full_parser(self._adapters.webhook_parser(platform))
        return parser

    async def _store(
        self,
        parser: MessengerWebhook,
        integration_id: int | None,
        headers: Mapping[str, str],
        read_body: BodyReader,
    ) -> tuple[list[int], str, WebhookReply]:
        """Ids of the new events to process, the outcome for the metrics, and the answer."""
        scheme = parser.scheme
        integration = await self._integration(parser, integration_id, headers)
        if integration is None:
            raise WebhookSignatureError("no integration for this webhook")
        secrets = parser.signing_secrets(integration)
        if not scheme.covers_body:
            scheme.verify(secrets, headers, b"")
        # No connection is held while the body streams in: it is bounded in size and time by
        # the limits middleware, and reached only by a sender the headers authenticated (or,
        # for body signatures, that named an existing integration).
        body = await read_body()
        if scheme.covers_body:
            scheme.verify(secrets, headers, body)
        document = decode_json(body)
        challenge = parser.challenge(integration, document)
        if challenge is not None:
            return [], "handshake", challenge
        try:
            events, error, usable = parser.parse_events(document), None, []
        except UnprocessableEventError as exc:
            # Stored failed with the reason; the usable rest of a batch is stored as usual.
            events, error, usable = [_placeholder(exc)], exc.reason, list(exc.usable)
        reply = parser.reply(usable or events)
        new_ids = await self._accept(integration, parser, usable, document) if usable else []
        stored = await self._accept(integration, parser, events, document, error)
        if not integration.is_active:
            return [], "ignored", reply  # paused: acknowledged, not stored
        if error is not None:
            return new_ids, "accepted" if new_ids else "unprocessable", reply
        return stored, "accepted" if stored else "ignored", reply

    async def _accept(
        self,
        integration: Integration,
        parser: MessengerWebhook,
        events: list[WebhookEvent],
        document: Any,
        error: str | None = None,
    ) -> list[int]:
        """Hand delivery updates and lifecycle events to the tracker; store the messages in
        one INSERT (`error`: stored failed with it). Ids of the new rows to process."""
        messages = [e for e in events if isinstance(e, InboundMessage)]
        if not integration.is_active:
            return []
        if len(messages) < len(events):
            await self._track(integration, [e for e in events if not isinstance(e, InboundMessage)])
        if not messages:
            return []
        rows = [(m.event_id, m.chat_id, m) for m in messages]
        raw = document if isinstance(document, dict) else {"body": document}
        try:
            new_ids = await self._insert(integration, parser.platform, rows, raw, error)
        except NotFoundError:
            await self._cache.invalidate(integration.id)
            raise WebhookSignatureError("no integration for this webhook") from None
        return [] if error is not None else new_ids

    async def _track(self, integration: Integration, events: list[WebhookEvent]) -> None:
        """Delivery updates and lifecycle events go to the tracker the core provides."""
        if self._tracker is None:
            log.info(
                "webhook events without a tracker",
                integration_id=integration.id,
                kinds=sorted({type(e).__name__ for e in events}),
            )
            return
        await self._tracker.record(integration, events)

    async def _insert(
        self,
        integration: Integration,
        platform: str,
        rows: list[tuple[str, str, InboundMessage]],
        raw: dict[str, Any],
        error: str | None,
    ) -> list[int]:
        # One INSERT … RETURNING, shared with concurrent deliveries: in autocommit it is one
        # round trip, committed when it returns (the rare stale-id path may add two
        # statements, each safe to repeat on redelivery). Unusable content is stored
        # `failed` by the same statement.
        delivery = NewInboundEvents(
            integration.tenant_id, integration.id, platform, tuple(rows), raw, error
        )
        new_ids = await self._writer.add(delivery)
        if error is not None:
            log.warning("unprocessable webhook event stored as failed", reason=error)
        return new_ids

    async def _integration(
        self, parser: MessengerWebhook, integration_id: int | None, headers: Mapping[str, str]
    ) -> Integration | None:
        """From the cache, else read (and decrypted) once and cached."""
        platform = parser.platform
        if integration_id is not None:
            cached = self._cache.get(platform, integration_id)
            if cached is not None:
                return cached
            async with self._uow.autocommit() as uow:
                found = await uow.integrations.get_for_webhook(platform, integration_id)
                if found is None:
                    await self._refuse_other_platform(uow, platform, integration_id)
        else:
            # The single-channel route names no integration: a scheme whose header carries
            # the secret itself (Telegram) identifies it; verify() still compares.
            presented = parser.scheme.presented_secret(headers)
            if not presented:
                raise WebhookSignatureError("this platform's webhooks need the integration id")
            cached = self._cache.find(platform, presented)
            if cached is not None:
                return cached
            async with self._uow.autocommit() as uow:
                found = await uow.integrations.find_by_webhook_secret(platform, presented)
        if found is not None:
            self._cache.put(found)
        return found

    async def _refuse_other_platform(self, uow: Any, platform: str, integration_id: int) -> None:
        """NotFoundError (404) when the id is another platform's integration: a wrong URL."""
        for other in self._platforms:
            if other != platform and await uow.integrations.get_for_webhook(other, integration_id):
                raise NotFoundError(f"integration {integration_id} is not a {platform} channel")


MAX_GROUP = 200  # deliveries per statement; a larger backlog takes several


class GroupedInserts:
    """Stores concurrent deliveries' events together: a group commit.

    `add` queues one delivery and waits for its new ids. One flusher at a time stores every
    delivery queued so far in one autocommit unit (`add_deliveries`: one statement), then the
    ones queued meanwhile, until none is left. A lone delivery is stored at once; under load
    each statement carries all that arrived during the previous one. If a group fails as a
    whole with an error one delivery may have caused (its integration deleted meanwhile),
    each of its deliveries is stored alone, so the error reaches only its own.
    """

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow
        self._queued: list[tuple[NewInboundEvents, asyncio.Future[list[int]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def add(self, delivery: NewInboundEvents) -> list[int]:
        done: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queued.append((delivery, done))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="intake-inserts")
        return await done

    async def _flush(self) -> None:
        # It works for many requests, not only the one whose context it copied: its log
        # lines carry no request id.
        structlog.contextvars.clear_contextvars()
        group: list[tuple[NewInboundEvents, asyncio.Future[list[int]]]] = []
        try:
            while self._queued:
                group, self._queued = self._queued[:MAX_GROUP], self._queued[MAX_GROUP:]
                try:
                    results = await self._store([d for d, _ in group])
                except NotFoundError as exc:
                    if len(group) == 1:
                        _fail(group, exc)
                    else:
                        for item in group:
                            await self._store_alone(*item)
                except Exception as exc:
                    _fail(group, exc)
                else:
                    for (_, done), new_ids in zip(group, results, strict=True):
                        if not done.done():  # its request may have been cancelled
                            done.set_result(new_ids)
                group = []
        except BaseException:  # cancelled (shutting down): no delivery may wait for ever
            for _, done in (*group, *self._queued):
                done.cancel()
            self._queued = []
            raise
        finally:
            self._flusher = None

    async def _store(self, deliveries: list[NewInboundEvents]) -> list[list[int]]:
        async with self._uow.autocommit(urgent=True) as uow:
            return await uow.inbound.add_deliveries(deliveries)

    async def _store_alone(
        self, delivery: NewInboundEvents, done: asyncio.Future[list[int]]
    ) -> None:
        try:
            (new_ids,) = await self._store([delivery])
        except Exception as exc:
            _fail([(delivery, done)], exc)
        else:
            if not done.done():
                done.set_result(new_ids)


def _fail(group: Sequence[tuple[Any, asyncio.Future[Any]]], error: Exception) -> None:
    for _, done in group:
        if not done.done():
            done.set_exception(error)


def _placeholder(exc: UnprocessableEventError) -> InboundMessage:
    """What is kept of an event that could not be parsed (its raw body is stored beside it)."""
    return InboundMessage(
        event_id=exc.event_id,
        kind=InboundKind.MESSAGE,
        chat_id=exc.conversation_key,
        sender=Sender(external_id=exc.conversation_key),
        text="",
        occurred_at=datetime.now(UTC),
    )
