"""The admin API for a tenant (Bearer API key): integrations, conversations, outbox, AI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response, status

from easyflow.api.deps import MAX_ROW_ID, Container, Offset, RowId, TenantId
from easyflow.api.schemas import (
    AiProfileIn,
    ConversationOut,
    ConversationStatusIn,
    IntegrationIn,
    IntegrationOut,
    IntegrationSettingsIn,
    MessageOut,
    OutboxDeliveryOut,
    OutboxOut,
)
from easyflow.domain.ai import AiProfile, FaqEntry
from easyflow.domain.errors import InvalidRequestError, NotFoundError
from easyflow.domain.messaging import ConversationStatus, DeliveryStatus
from easyflow.domain.tenancy import Capability, IntegrationStatus

router = APIRouter(prefix="/api/v1", tags=["admin"])


@router.get("/integrations", response_model=list[IntegrationOut])
async def list_integrations(tenant: TenantId, c: Container) -> Any:
    return await c.integrations.list(tenant)


@router.post("/integrations", response_model=IntegrationOut, status_code=status.HTTP_201_CREATED)
async def add_integration(body: IntegrationIn, tenant: TenantId, c: Container) -> Any:
    return await c.integrations.add(
        tenant, body.platform, body.credentials, name=body.name, settings=body.settings
    )


@router.get("/integrations/{integration_id}", response_model=IntegrationOut)
async def get_integration(integration_id: RowId, tenant: TenantId, c: Container) -> Any:
    return await c.integrations.get(tenant, integration_id)


@router.patch("/integrations/{integration_id}/settings", response_model=IntegrationOut)
async def update_integration_settings(
    integration_id: RowId, body: IntegrationSettingsIn, tenant: TenantId, c: Container
) -> Any:
    """Set the given settings (null removes one), checked against the platform's; the
    others stay. Credentials are not settings."""
    return await c.integrations.update_settings(tenant, integration_id, body.root)


@router.post("/integrations/{integration_id}/pause", response_model=IntegrationOut)
async def pause_integration(integration_id: RowId, tenant: TenantId, c: Container) -> Any:
    return await c.integrations.set_status(tenant, integration_id, IntegrationStatus.PAUSED)


@router.post("/integrations/{integration_id}/resume", response_model=IntegrationOut)
async def resume_integration(integration_id: RowId, tenant: TenantId, c: Container) -> Any:
    return await c.integrations.set_status(tenant, integration_id, IntegrationStatus.ACTIVE)


@router.post(
    "/integrations/{integration_id}/rotate-webhook-secret",
    status_code=status.HTTP_204_NO_CONTENT,
)
async def rotate_webhook_secret(integration_id: RowId, tenant: TenantId, c: Container) -> Response:
    """Register a new webhook secret at the platform; the previous one is still accepted."""
    await c.integrations.rotate_webhook_secret(tenant, integration_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/integrations/{integration_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_integration(integration_id: RowId, tenant: TenantId, c: Container) -> Response:
    await c.integrations.delete(tenant, integration_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/conversations", response_model=list[ConversationOut])
async def list_conversations(
    tenant: TenantId,
    c: Container,
    integration_id: int | None = Query(None, ge=1, le=MAX_ROW_ID),
    conversation_status: ConversationStatus | None = Query(None, alias="status"),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Any:
    return await c.inbox.conversations(
        tenant,
        integration_id=integration_id,
        status=conversation_status,
        limit=limit,
        offset=offset,
    )


@router.get("/conversations/{conversation_id}/messages", response_model=list[MessageOut])
async def list_messages(
    conversation_id: RowId,
    tenant: TenantId,
    c: Container,
    limit: int = Query(100, ge=1, le=1000),
    after_id: Offset = 0,
) -> Any:
    return await c.inbox.messages(tenant, conversation_id, limit=limit, after_id=after_id)


@router.post("/conversations/{conversation_id}/status", response_model=ConversationOut)
async def set_conversation_status(
    conversation_id: RowId, body: ConversationStatusIn, tenant: TenantId, c: Container
) -> Any:
    return await c.inbox.set_status(tenant, conversation_id, body.status)


@router.get("/outbox", response_model=list[OutboxOut])
async def list_outbox(
    tenant: TenantId,
    c: Container,
    delivery_status: DeliveryStatus | None = Query(None, alias="status"),
    limit: int = Query(100, ge=1, le=1000),
) -> Any:
    return await c.inbox.outbox(tenant, delivery_status, limit)


@router.get("/outbox/{outbox_id}", response_model=OutboxDeliveryOut)
async def get_outbox(outbox_id: RowId, tenant: TenantId, c: Container) -> Any:
    """The row with its delivery history: every attempt, its outcome, error and platform id."""
    item, attempts = await c.inbox.delivery(tenant, outbox_id)
    return OutboxDeliveryOut.model_validate(
        {
            **OutboxOut.model_validate(item).model_dump(),
            "payload": item.payload.to_json(),
            "history": attempts,
        }
    )


@router.post("/outbox/{outbox_id}/replay", status_code=status.HTTP_202_ACCEPTED)
async def replay_outbox(outbox_id: RowId, tenant: TenantId, c: Container) -> dict[str, str]:
    await c.inbox.replay(tenant, outbox_id)
    return {"status": "queued"}


@router.get("/ai/usage")
async def ai_usage(tenant: TenantId, c: Container) -> dict[str, int]:
    return dict(await c.tenants.ai_usage(tenant))


@router.put("/ai/profile", status_code=status.HTTP_204_NO_CONTENT)
async def set_ai_profile(body: AiProfileIn, tenant: TenantId, c: Container) -> Response:
    for provider in body.providers:
        try:
            is_chat_model = c.adapters.offers(provider, Capability.CHAT_MODEL)
        except NotFoundError:
            is_chat_model = False
        if not is_chat_model:
            raise InvalidRequestError(f"{provider!r} is not an AI provider")
    profile = AiProfile(
        system_prompt=body.system_prompt,
        faq=tuple(FaqEntry(f.topic, tuple(f.keywords), f.answer) for f in body.faq),
        providers=tuple(body.providers),
    )
    await c.tenants.set_ai_profile(tenant, profile)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
