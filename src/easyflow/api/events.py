"""Inbound events in the admin API: what the hub acknowledged, and what it could not process.

An event that failed for good (a bug, content the hub cannot handle, or transient failures
past the retry budget: "gave up after N attempts: …") keeps its reason here, and a person
replays it once the cause is fixed. Pending events show their retry time and last error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, status

from easyflow.api.deps import Container, Offset, RowId, TenantId
from easyflow.api.schemas import Out
from easyflow.domain.messaging import EventStatus, InboundEvent

router = APIRouter(prefix="/api/v1", tags=["admin"])


class InboundEventOut(Out):
    id: int
    integration_id: int
    platform: str
    event_id: str
    chat_id: str
    kind: str
    text: str
    status: str
    attempts: int
    error: str | None
    received_at: datetime
    next_attempt_at: datetime | None


def _out(event: InboundEvent) -> InboundEventOut:
    return InboundEventOut(
        id=event.id,
        integration_id=event.integration_id,
        platform=event.platform,
        event_id=event.event_id,
        chat_id=event.conversation_key,
        kind=event.message.kind.value,
        text=event.message.text,
        status=event.status.value,
        attempts=event.attempts,
        error=event.error,
        received_at=event.received_at,
        next_attempt_at=event.next_attempt_at,
    )


@router.get("/inbound-events", response_model=list[InboundEventOut])
async def list_inbound_events(
    tenant: TenantId,
    c: Container,
    event_status: EventStatus | None = Query(None, alias="status"),
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> Any:
    """The tenant's inbound events, newest first; `status=failed` for the ones to review."""
    events = await c.inbox.inbound_events(tenant, event_status, limit=limit, offset=offset)
    return [_out(event) for event in events]


@router.post(
    "/inbound-events/{event_id}/replay",
    response_model=InboundEventOut,
    status_code=status.HTTP_202_ACCEPTED,
)
async def replay_inbound_event(event_id: RowId, tenant: TenantId, c: Container) -> Any:
    """Process a failed event again (400 if it is not failed, 404 if not the tenant's)."""
    return _out(await c.inbox.replay_inbound(tenant, event_id))
