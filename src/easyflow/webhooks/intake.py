"""Webhook intake: verify -> parse -> dedupe -> store -> commit -> enqueue -> acknowledge.

Nothing is stored for a request that fails authentication, and the platform's ack is
returned only after the events are committed, so an acknowledged update is never lost. A
redelivered update finds its event id taken and has no second effect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import structlog

from easyflow.domain.errors import MalformedPayloadError, WebhookSignatureError
from easyflow.domain.tenancy import Integration
from easyflow.observability.metrics import Metrics
from easyflow.ports import Adapters, TaskQueue, UnitOfWork, UnitOfWorkFactory, WebhookParser

log = structlog.get_logger("easyflow.webhooks")


class WebhookIntake:
    def __init__(
        self, uow: UnitOfWorkFactory, adapters: Adapters, queue: TaskQueue, metrics: Metrics
    ) -> None:
        self._uow = uow
        self._adapters = adapters
        self._queue = queue
        self._metrics = metrics

    async def receive(
        self,
        platform: str,
        integration_id: int | None,
        headers: Mapping[str, str],
        body: bytes,
    ) -> dict[str, Any]:
        """Store the delivery's events and return the body the platform expects."""
        parser = self._adapters.webhook_parser(platform)
        try:
            new_ids = await self._store(parser, integration_id, headers, body)
        except WebhookSignatureError:
            self._metrics.webhooks.labels(platform, "unauthenticated").inc()
            raise
        except MalformedPayloadError:
            self._metrics.webhooks.labels(platform, "malformed").inc()
            raise
        self._metrics.webhooks.labels(platform, "accepted").inc()
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
        body: bytes,
    ) -> list[int]:
        async with self._uow() as uow:
            integration = await self._find(uow, parser, integration_id, headers)
            if integration is None:
                raise WebhookSignatureError("no integration for this webhook")
            parser.scheme.verify(integration.webhook_secrets, headers, body)
            body = _storable(body)
            messages = parser.parse(body)
            if not integration.is_active or not messages:
                return []  # paused, or an update type the hub ignores: acknowledged, dropped
            raw = json.loads(body)
            rows = [(m.event_id, m.chat_id, m) for m in messages]
            new_ids = await uow.inbound.add_many(
                integration.tenant_id, integration.id, parser.platform, rows, raw
            )
            await uow.commit()
        return new_ids

    async def _find(
        self,
        uow: UnitOfWork,
        parser: WebhookParser,
        integration_id: int | None,
        headers: Mapping[str, str],
    ) -> Integration | None:
        if integration_id is not None:
            return await uow.integrations.get_for_webhook(parser.platform, integration_id)
        # The single-channel route names no integration: a scheme whose header carries the
        # secret itself (Telegram) identifies it; the lookup is by hash, then verify() compares.
        presented = parser.scheme.presented_secret(headers)
        if not presented:
            raise WebhookSignatureError("this platform's webhooks need the integration id")
        return await uow.integrations.find_by_webhook_secret(parser.platform, presented)


def _storable(body: bytes) -> bytes:
    """The body with escaped U+0000 replaced: PostgreSQL text and JSONB cannot hold NUL.

    Runs after verification, which covers the bytes exactly as the platform sent them.
    """
    return body.replace(b"\\u0000", b"\\ufffd") if b"\\u0000" in body else body
