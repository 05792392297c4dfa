"""Webhook intake: verify -> read -> parse -> dedupe and store -> enqueue -> ack.

The integration (decrypted secrets, status, tenant) comes from an in-process cache that
IntegrationService invalidates (ports.IntegrationCache), and the events are stored by one
`INSERT … ON CONFLICT DO NOTHING RETURNING` in autocommit: an accepted delivery costs one
database round trip, committed before the ack.

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

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from easyflow.domain.errors import MalformedPayloadError, NotFoundError, WebhookSignatureError
from easyflow.domain.messaging import (
    InboundKind,
    InboundMessage,
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
            self._metrics.webhooks.labels(platform, "unauthenticated").inc()
            raise
        except MalformedPayloadError:
            self._metrics.webhooks.labels(platform, "malformed").inc()
            raise
        self._metrics.webhooks.labels(platform, outcome).inc()
        self._metrics.webhook_events.labels(platform).inc(len(new_ids))
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
            self._metrics.webhooks.labels(platform, "unauthenticated").inc()
            raise WebhookSignatureError("no integration for this webhook")
        reply = parser.handshake(integration, query)
        self._metrics.webhooks.labels(platform, "handshake").inc()
        return reply

    def _parser(self, platform: str) -> MessengerWebhook:
        return full_parser(self._adapters.webhook_parser(platform))

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
        # One INSERT … RETURNING: in autocommit it is one round trip, committed when it
        # returns (the rare stale-id path may add two statements, each safe to repeat on
        # redelivery). Unusable content is stored `failed` by the same statement.
        async with self._uow.autocommit() as uow:
            new_ids = await uow.inbound.add_many(
                integration.tenant_id, integration.id, platform, rows, raw, failure=error
            )
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
