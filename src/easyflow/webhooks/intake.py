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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from easyflow.domain.errors import MalformedPayloadError, NotFoundError, WebhookSignatureError
from easyflow.domain.messaging import InboundKind, InboundMessage, Sender
from easyflow.domain.tenancy import Integration
from easyflow.observability.metrics import Metrics
from easyflow.ports import (
    Adapters,
    IntegrationCache,
    TaskQueue,
    UnitOfWorkFactory,
    WebhookParser,
)
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
    ) -> None:
        self._uow = uow
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
        """Store the delivery's events and return the body the platform expects.

        `read_body` is called at most once, and only after what the headers can prove.
        """
        parser = self._adapters.webhook_parser(platform)
        try:
            new_ids, outcome = await self._store(parser, integration_id, headers, read_body)
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
        return parser.ack

    async def _store(
        self,
        parser: WebhookParser,
        integration_id: int | None,
        headers: Mapping[str, str],
        read_body: BodyReader,
    ) -> tuple[list[int], str]:
        """Ids of the new events to process, and the outcome for the metrics."""
        scheme = parser.scheme
        integration = await self._integration(parser, integration_id, headers)
        if integration is None:
            raise WebhookSignatureError("no integration for this webhook")
        if not scheme.covers_body:
            scheme.verify(integration.webhook_secrets, headers, b"")
        # No connection is held while the body streams in: it is bounded in size and time by
        # the limits middleware, and reached only by a sender the headers authenticated (or,
        # for body signatures, that named an existing integration).
        body = await read_body()
        if scheme.covers_body:
            scheme.verify(integration.webhook_secrets, headers, body)
        document = decode_json(body)
        try:
            messages, error = parser.parse_document(document), None
        except UnprocessableEventError as exc:
            messages, error = [_placeholder(exc)], exc.reason
        if not integration.is_active or not messages:
            return [], "ignored"  # paused, or an update type the hub ignores
        rows = [(m.event_id, m.chat_id, m) for m in messages]
        raw = document if isinstance(document, dict) else {"body": document}
        try:
            new_ids = await self._insert(integration, parser.platform, rows, raw, error)
        except NotFoundError:
            # Deleted since it was cached (another process): nothing was stored.
            await self._cache.invalidate(integration.id)
            raise WebhookSignatureError("no integration for this webhook") from None
        if error is not None:
            return [], "unprocessable"
        return new_ids, "accepted"

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
        self, parser: WebhookParser, integration_id: int | None, headers: Mapping[str, str]
    ) -> Integration | None:
        """From the cache, else read (and decrypted) once and cached."""
        platform = parser.platform
        if integration_id is not None:
            cached = self._cache.get(platform, integration_id)
            if cached is not None:
                return cached
            async with self._uow.autocommit() as uow:
                found = await uow.integrations.get_for_webhook(platform, integration_id)
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
