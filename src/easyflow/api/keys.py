"""A tenant's admin API keys: list, create and revoke them with one of its own keys.

A leaked key is revoked here (or with `easyflow keys revoke`); it stops authenticating at
once, since every request looks its hash up among the unrevoked keys. A key is shown once,
when it is created; listings carry only its prefix, to tell keys apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from easyflow.api.deps import Container, RowId, TenantId

router = APIRouter(prefix="/api/v1", tags=["api keys"])

KeyName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^\P{C}+$")
]


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str = Field(description="The `ef_<prefix>_` part of the key, to tell keys apart")
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyIn(BaseModel):
    name: KeyName = "default"


class NewApiKeyOut(ApiKeyOut):
    key: str = Field(description="The key itself: shown this once, stored only as a hash")


@router.get("/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(tenant: TenantId, c: Container) -> Any:
    return await c.tenants.list_api_keys(tenant)


@router.post("/api-keys", response_model=NewApiKeyOut, status_code=status.HTTP_201_CREATED)
async def create_api_key(body: ApiKeyIn, tenant: TenantId, c: Container) -> Any:
    """A new key for this tenant, to replace one before revoking it."""
    info, key = await c.tenants.create_api_key(tenant, body.name)
    return NewApiKeyOut(**ApiKeyOut.model_validate(info).model_dump(), key=key)


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(key_id: RowId, tenant: TenantId, c: Container) -> Response:
    """Revoke a key of this tenant (the one making the request too, if it is that one)."""
    await c.tenants.revoke_api_key(tenant, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
