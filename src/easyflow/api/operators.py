"""The operators' API: handover rules, conversations a person has, replies and the event feed.

GET  /api/v1/handover/rules                     the tenant's rules (+ webhook secret)
PUT  /api/v1/handover/rules                     replace them
POST /api/v1/handover/rules/rotate-webhook-secret
GET  /api/v1/handover/conversations             waiting for a person, longest first
GET  /api/v1/conversations/{id}                 one, with messages, attachments, orders
POST /api/v1/conversations/{id}/reply           a person answers on the customer's channel
POST /api/v1/conversations/{id}/release         back to the bot
POST /api/v1/conversations/{id}/close
GET  /api/v1/operator-events?after_id=N         the feed (also POSTed to the webhook)
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import Field, StringConstraints

from easyflow.api.deps import Container, Offset, RowId, TenantId
from easyflow.api.schemas import In, MessageOut, Out
from easyflow.domain.messaging import (
    MEDIA_KINDS,
    ConversationStatus,
    ConversationSummary,
    HandoverRules,
    MediaAction,
    WorkingHours,
)
from easyflow.services.operators import MAX_TEXT, ConversationView

router = APIRouter(prefix="/api/v1", tags=["operators"])

Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
HandoverKeyword = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)
]
MediaKind = Literal[
    "photo", "video", "voice", "audio", "document", "sticker", "contact", "location"
]
Operator = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
assert set(MediaKind.__args__) == set(MEDIA_KINDS)  # type: ignore[attr-defined]


class WorkingHoursModel(In):
    timezone: str = Field("UTC", max_length=64, examples=["Europe/Moscow"])
    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4], min_length=1, max_length=7
    )
    opens: time = time(9, 0)
    closes: time = time(18, 0)


class RulesIn(In):
    on_request: bool = True
    keywords: list[HandoverKeyword] = Field(default_factory=list, max_length=100)
    on_model_cannot_help: bool = True
    media: dict[MediaKind, MediaAction] = Field(default_factory=dict)
    notice: Text | None = None
    after_hours_notice: Text | None = None
    cannot_help: Text | None = None
    working_hours: WorkingHoursModel | None = None
    operator_integration_id: int | None = Field(None, ge=1, le=2**63 - 1)
    operator_chat_id: str | None = Field(None, max_length=100, examples=["-1001234567890"])
    webhook_url: str | None = Field(None, max_length=2000)

    def to_rules(self) -> HandoverRules:
        hours = self.working_hours
        defaults = HandoverRules()
        return HandoverRules(
            on_request=self.on_request,
            keywords=tuple(self.keywords),
            on_model_cannot_help=self.on_model_cannot_help,
            media={**defaults.media, **{str(k): v for k, v in self.media.items()}},
            notice=self.notice,
            after_hours_notice=self.after_hours_notice,
            cannot_help=self.cannot_help,
            working_hours=None
            if hours is None
            else WorkingHours(
                hours.timezone,
                tuple(sorted(set(hours.days))),
                hours.opens.replace(tzinfo=None),
                hours.closes.replace(tzinfo=None),
            ),
            operator_integration_id=self.operator_integration_id,
            operator_chat_id=self.operator_chat_id,
            webhook_url=self.webhook_url,
        )


class RulesOut(RulesIn):
    webhook_secret: str | None = None  # verify the webhook's signatures with it


def rules_out(rules: HandoverRules, secret: str | None) -> RulesOut:
    hours = rules.working_hours
    return RulesOut(
        on_request=rules.on_request,
        keywords=list(rules.keywords),
        on_model_cannot_help=rules.on_model_cannot_help,
        media=dict(rules.media),  # type: ignore[arg-type]
        notice=rules.notice,
        after_hours_notice=rules.after_hours_notice,
        cannot_help=rules.cannot_help,
        working_hours=None
        if hours is None
        else WorkingHoursModel(
            timezone=hours.timezone, days=list(hours.days), opens=hours.opens, closes=hours.closes
        ),
        operator_integration_id=rules.operator_integration_id,
        operator_chat_id=rules.operator_chat_id,
        webhook_url=rules.webhook_url,
        webhook_secret=secret,
    )


class AttachmentOut(Out):
    kind: str
    metadata: dict[str, Any]


class OperatorMessageOut(MessageOut):
    attachments: list[AttachmentOut] = Field(default_factory=list)


class ContactOut(Out):
    id: int
    external_id: str
    display_name: str
    username: str | None


class SummaryOut(Out):
    id: int
    integration_id: int
    platform: str
    chat_id: str
    status: ConversationStatus
    contact: ContactOut
    handover_reason: str | None
    handed_over_at: datetime | None
    last_message_at: datetime | None
    last_message: str | None


class OrderOut(Out):
    number: str
    source: str
    status: str
    total: str
    currency: str
    customer_name: str
    customer_phone: str | None
    tracking_number: str | None
    updated_at: datetime
    linked: bool  # placed with the phone number this contact proved


class ConversationDetailOut(SummaryOut):
    phone: str | None
    messages: list[OperatorMessageOut]
    orders: list[OrderOut]


class ReplyIn(In):
    text: Text
    operator: Operator = ""


class OperatorIn(In):
    operator: Operator = ""


class EventOut(Out):
    id: int
    conversation_id: int | None
    type: str
    data: dict[str, Any]
    created_at: datetime
    delivery: str | None
    attempts: int
    last_error: str | None


def _summary(s: ConversationSummary) -> dict[str, Any]:
    c = s.conversation
    return {
        "id": c.id,
        "integration_id": c.integration_id,
        "platform": s.platform,
        "chat_id": c.chat_id,
        "status": c.status,
        "contact": s.contact,
        "handover_reason": s.handover_reason,
        "handed_over_at": s.handed_over_at,
        "last_message_at": c.last_message_at,
        "last_message": s.last_message,
    }


def _detail(view: ConversationView) -> dict[str, Any]:
    orders = [
        {
            "number": o.order.number,
            "source": o.order.source,
            "status": o.order.status.value,
            "total": str(o.order.total),
            "currency": o.order.currency,
            "customer_name": o.order.customer_name,
            "customer_phone": o.order.customer_phone,
            "tracking_number": o.order.tracking_number,
            "updated_at": o.order.updated_at,
            "linked": o.linked,
        }
        for o in view.orders
    ]
    return _summary(view.summary) | {
        "phone": view.phone,
        "messages": list(view.messages),
        "orders": orders,
    }


@router.get("/handover/rules", response_model=RulesOut)
async def get_rules(tenant: TenantId, c: Container) -> Any:
    return rules_out(*await c.operators.rules(tenant))


@router.put("/handover/rules", response_model=RulesOut)
async def set_rules(body: RulesIn, tenant: TenantId, c: Container) -> Any:
    return rules_out(*await c.operators.set_rules(tenant, body.to_rules()))


@router.post("/handover/rules/rotate-webhook-secret")
async def rotate_webhook_secret(tenant: TenantId, c: Container) -> dict[str, str]:
    """A new signing secret, used from the next delivery on."""
    return {"webhook_secret": await c.operators.rotate_webhook_secret(tenant)}


@router.get("/handover/conversations", response_model=list[SummaryOut])
async def handed_over(
    tenant: TenantId,
    c: Container,
    conversation_status: ConversationStatus | None = Query(
        ConversationStatus.HANDOVER, alias="status"
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Any:
    found = await c.operators.conversations(tenant, conversation_status, limit=limit, offset=offset)
    return [_summary(s) for s in found]


@router.get("/conversations/{conversation_id}", response_model=ConversationDetailOut)
async def show_conversation(
    conversation_id: RowId,
    tenant: TenantId,
    c: Container,
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    return _detail(await c.operators.show(tenant, conversation_id, limit=limit))


@router.post(
    "/conversations/{conversation_id}/reply",
    response_model=OperatorMessageOut,
    status_code=status.HTTP_201_CREATED,
)
async def reply(conversation_id: RowId, body: ReplyIn, tenant: TenantId, c: Container) -> Any:
    return await c.operators.reply(tenant, conversation_id, body.text, body.operator)


@router.post("/conversations/{conversation_id}/release", status_code=status.HTTP_204_NO_CONTENT)
async def release(
    conversation_id: RowId, tenant: TenantId, c: Container, body: OperatorIn | None = None
) -> Response:
    await c.operators.release(tenant, conversation_id, body.operator if body else "")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/conversations/{conversation_id}/close", status_code=status.HTTP_204_NO_CONTENT)
async def close(
    conversation_id: RowId, tenant: TenantId, c: Container, body: OperatorIn | None = None
) -> Response:
    await c.operators.close(tenant, conversation_id, body.operator if body else "")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/operator-events", response_model=list[EventOut])
async def operator_events(
    tenant: TenantId,
    c: Container,
    after_id: Offset = 0,
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    return await c.operators.events(tenant, after_id=after_id, limit=limit)
