"""Notification templates and sending them: the admin API.

GET    /api/v1/notifications/templates[?event=]            in force: own and built-in
GET    /api/v1/notifications/templates/{event}/{language}
PUT    /api/v1/notifications/templates/{event}/{language}  the tenant's own (replaces)
DELETE /api/v1/notifications/templates/{event}/{language}  back to the built-in one
POST   /api/v1/notifications/send                          one contact
POST   /api/v1/notifications/broadcast                     many contacts, all or nothing

Sends answer 202 with the outbox ids: the message is queued, and its delivery is followed
with `GET /api/v1/outbox/{id}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, status
from pydantic import Field, StringConstraints

from easyflow.api.deps import MAX_ROW_ID, Container, TenantId
from easyflow.api.schemas import In, Out
from easyflow.domain.errors import NotFoundError
from easyflow.domain.notifications import (
    ButtonTemplate,
    NotificationTemplate,
    WhatsAppTemplate,
)
from easyflow.services.notifications import MAX_RECIPIENTS, Recipient

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

EVENT_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
LANGUAGE_PATTERN = r"^[a-z]{2,3}$"
Event = Annotated[str, Path(pattern=EVENT_PATTERN, examples=["order_shipped"])]
Language = Annotated[str, Path(pattern=LANGUAGE_PATTERN, examples=["ru"])]
EventName = Annotated[str, StringConstraints(pattern=EVENT_PATTERN)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
Short = Annotated[str, StringConstraints(min_length=1, max_length=256)]
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Value = Annotated[str, StringConstraints(max_length=1024)] | int | float
Data = Annotated[dict[FieldName, Value], Field(max_length=50)]
ContactId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class ButtonModel(In):
    text: Short
    callback_data: Short | None = None
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None


class WhatsAppModel(In):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,512}$")]
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")]
    parameters: list[FieldName] = Field(default_factory=list, max_length=20)


class TemplateIn(In):
    text: Body
    html: Body | None = None
    buttons: list[Annotated[list[ButtonModel], Field(min_length=1, max_length=8)]] = Field(
        default_factory=list, max_length=10
    )
    whatsapp: WhatsAppModel | None = None

    def to_template(self, event: str, language: str) -> NotificationTemplate:
        whatsapp = self.whatsapp
        return NotificationTemplate(
            event=event,
            language=language,
            text=self.text,
            html=self.html,
            buttons=tuple(
                tuple(ButtonTemplate(b.text, b.callback_data, b.url) for b in row)
                for row in self.buttons
            ),
            whatsapp=None
            if whatsapp is None
            else WhatsAppTemplate(whatsapp.name, whatsapp.language, tuple(whatsapp.parameters)),
        )


class TemplateOut(Out):
    event: str
    language: str
    text: str
    html: str | None
    buttons: list[list[ButtonModel]]
    whatsapp: WhatsAppModel | None
    builtin: bool  # a built-in template; PUT one of the same event and language to replace it
    fields: list[str]  # the data a send must give


class SendIn(In):
    contact_id: ContactId
    template: EventName = Field(examples=["order_shipped"])
    data: Data = Field(default_factory=dict, examples=[{"number": "1001"}])


class RecipientModel(In):
    contact_id: ContactId
    data: Data = Field(default_factory=dict)  # over the broadcast's common data


class BroadcastIn(In):
    template: EventName
    data: Data = Field(default_factory=dict)  # common to every recipient
    recipients: list[RecipientModel] = Field(min_length=1, max_length=MAX_RECIPIENTS)


class QueuedOut(Out):
    outbox_ids: list[int]


def template_out(t: NotificationTemplate) -> dict[str, Any]:
    return {
        "event": t.event,
        "language": t.language,
        **t.variants_to_json(),
        "builtin": t.builtin,
        "fields": sorted(t.fields()),
    }


@router.get("/templates", response_model=list[TemplateOut])
async def list_templates(
    tenant: TenantId,
    c: Container,
    event: str | None = Query(None, pattern=EVENT_PATTERN),
) -> Any:
    return [template_out(t) for t in await c.notifications.templates(tenant, event)]


@router.get("/templates/{event}/{language}", response_model=TemplateOut)
async def get_template(event: Event, language: Language, tenant: TenantId, c: Container) -> Any:
    for t in await c.notifications.templates(tenant, event):
        if t.language == language:
            return template_out(t)
    raise NotFoundError(f"no template {event!r} in {language!r}")


@router.put("/templates/{event}/{language}", response_model=TemplateOut)
async def set_template(
    event: Event, language: Language, body: TemplateIn, tenant: TenantId, c: Container
) -> Any:
    saved = await c.notifications.set_template(tenant, body.to_template(event, language))
    return template_out(saved)


@router.delete("/templates/{event}/{language}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(
    event: Event, language: Language, tenant: TenantId, c: Container
) -> Response:
    await c.notifications.delete_template(tenant, event, language)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/send", response_model=QueuedOut, status_code=status.HTTP_202_ACCEPTED)
async def send(body: SendIn, tenant: TenantId, c: Container) -> Any:
    outbox_id = await c.notifications.send_notification(
        tenant, body.contact_id, body.template, body.data
    )
    return {"outbox_ids": [outbox_id]}


@router.post("/broadcast", response_model=QueuedOut, status_code=status.HTTP_202_ACCEPTED)
async def broadcast(body: BroadcastIn, tenant: TenantId, c: Container) -> Any:
    recipients = [Recipient(r.contact_id, body.data | r.data) for r in body.recipients]
    return {"outbox_ids": await c.notifications.broadcast(tenant, body.template, recipients)}
