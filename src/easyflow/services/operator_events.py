"""The operators' webhook: every operator event POSTed, signed, to the tenant's URL.

The signature follows Standard Webhooks (standardwebhooks.com), so an operator tool can
verify it with any of that spec's libraries:

    webhook-id: evt_<event id>           the same on every retry: deduplicate by it
    webhook-timestamp: <unix seconds>    reject stale ones (replay protection)
    webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">

keyed with the base64 part of the tenant's secret (`whsec_<base64>`). The body is
`{"id", "type", "created_at", "tenant_id", "data"}`. A 2xx is success; anything else, or no
answer, is retried with backoff (`RetrySchedule`) until the attempts run out (dead: listed
in the feed with the last error); a 410 means the receiver is gone for good: dead at once.
Events are claimed with a lease, so workers running `deliver_due` side by side never post
the same event at the same time. The feed (`GET /api/v1/operator-events`) holds every event
whether or not it was delivered: a tool that was down catches up from the last id it saw.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from easyflow.domain.errors import RetryableError
from easyflow.domain.messaging import OperatorEvent
from easyflow.ports import UnitOfWork, UnitOfWorkFactory
from easyflow.services.retries import RetrySchedule, describe, gave_up

log = structlog.get_logger("easyflow.operator_events")

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
BATCH = 50
CONCURRENCY = 25  # two rounds of 10 s timeouts at most: well inside the 60 s lease


class WebhookPoster(Protocol):
    """One POST to a URL outside the hub; the HTTP status, or RetryableError on no answer."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int: ...


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of a Standard Webhooks message."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """What a receiver does: recompute over the raw body, compare in constant time."""
    try:
        expected = sign(
            secret, headers["webhook-id"], int(headers["webhook-timestamp"]), body
        ).encode()
    except (KeyError, ValueError):
        return False
    offered = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(expected, s.encode()) for s in offered)


def envelope(event: OperatorEvent) -> bytes:
    document = {
        "id": f"evt_{event.id}",
        "type": event.type.value,
        "created_at": event.created_at.isoformat(),
        "tenant_id": event.tenant_id,
        "data": event.data,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class OperatorWebhooks:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        poster: WebhookPoster,
        retry: RetrySchedule | None = None,
        lease_seconds: float = 60.0,
    ) -> None:
        self._uow = uow
        self._poster = poster
        self._retry = retry or RetrySchedule()
        self._lease = timedelta(seconds=lease_seconds)

    async def deliver_due(self) -> int:
        """POST every event whose delivery is due; the number delivered."""
        now = datetime.now(UTC)
        async with self._uow() as uow:
            events = await uow.handover.claim_due(now, now + self._lease, BATCH)
            tenants = {e.tenant_id for e in events}
            targets = {t: await _target(uow, t) for t in tenants}
            await uow.commit()
        slots = asyncio.Semaphore(CONCURRENCY)

        async def attempt(event: OperatorEvent) -> tuple[str | None, bool]:
            url, secret = targets[event.tenant_id]
            if url is None or secret is None:
                return "no webhook configured", True
            async with slots:
                return await self._post(url, secret, event)

        # Side by side: one slow receiver must not hold the others past the lease.
        outcomes = await asyncio.gather(*(attempt(event) for event in events))
        delivered = [e.id for e, (error, _) in zip(events, outcomes, strict=True) if error is None]
        failures = [
            (e, error, final)
            for e, (error, final) in zip(events, outcomes, strict=True)
            if error is not None
        ]
        await self._record(delivered, failures)
        return len(delivered)

    async def _post(self, url: str, secret: str, event: OperatorEvent) -> tuple[str | None, bool]:
        """(None, _) when delivered, else (the error, whether to give up now)."""
        body = envelope(event)
        message_id, timestamp = f"evt_{event.id}", int(datetime.now(UTC).timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body),
        }
        try:
            status = await self._poster.post(url, body, headers)
        except RetryableError as exc:
            return describe(exc), False
        if 200 <= status < 300:
            return None, False
        return f"HTTP {status}", status == 410

    async def _record(
        self, delivered: list[int], failures: list[tuple[OperatorEvent, str, bool]]
    ) -> None:
        now = datetime.now(UTC)
        async with self._uow() as uow:
            await uow.handover.delivered(delivered, now)
            for event, error, final in failures:
                dead = final or self._retry.exhausted(event.attempts)
                reason = gave_up(event.attempts, error) if dead and not final else error
                await uow.handover.delivery_failed(
                    event.id,
                    reason,
                    next_attempt_at=self._retry.next_attempt_at(event.attempts),
                    dead=dead,
                )
                log.warning("operator webhook failed", event_id=event.id, dead=dead, error=error)
            await uow.commit()


async def _target(uow: UnitOfWork, tenant_id: int) -> tuple[str | None, str | None]:
    rules = await uow.handover.rules(tenant_id)
    return rules.webhook_url, await uow.handover.webhook_secret(tenant_id)
