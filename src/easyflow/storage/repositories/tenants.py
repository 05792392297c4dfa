"""Tenants and their admin API keys (stored as hashes; the key itself is never kept)."""

from __future__ import annotations

from sqlalchemy import bindparam, func, literal, select, update
from sqlalchemy.engine import Row

from easyflow.domain.ai import AiProfile
from easyflow.domain.tenancy import ApiKeyInfo, Tenant
from easyflow.storage.codecs import profile_from_json, profile_to_json
from easyflow.storage.repositories.base import Repository, require_changed, require_row
from easyflow.storage.tables import api_keys, tenants
from easyflow.storage.types import UtcDateTime, utcnow


def tenant_from(row: Row, prefix: str = "") -> Tenant:
    """The tenant whose columns `row` holds, each named `prefix` + column (a query that joins
    tenants to another table labels them so: `tenant_id`, `tenant_name`, ...)."""
    return Tenant(
        id=getattr(row, prefix + "id"),
        name=getattr(row, prefix + "name"),
        ai_profile=profile_from_json(getattr(row, prefix + "ai_profile")),
        created_at=getattr(row, prefix + "created_at"),
    )


def _api_key(row: Row) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


# Read for every message: built once (building a SELECT costs more CPU than running it).
_TENANT_BY_ID = select(tenants).where(tenants.c.id == bindparam("tenant_id"))


class SqlTenantRepository(Repository):
    async def add(self, name: str, profile: AiProfile) -> Tenant:
        statement = (
            tenants.insert()
            .values(name=name, ai_profile=profile_to_json(profile))
            .returning(*tenants.c)
        )
        return tenant_from((await self._connection.execute(statement)).one())

    async def get(self, tenant_id: int) -> Tenant:
        row = (await self._connection.execute(_TENANT_BY_ID, {"tenant_id": tenant_id})).first()
        return tenant_from(require_row(row, "tenant", tenant_id))

    async def list(self) -> list[Tenant]:
        rows = await self._connection.execute(select(tenants).order_by(tenants.c.id))
        return [tenant_from(row) for row in rows]

    async def set_ai_profile(self, tenant_id: int, profile: AiProfile) -> None:
        statement = (
            update(tenants)
            .where(tenants.c.id == tenant_id)
            .values(ai_profile=profile_to_json(profile))
        )
        require_changed(await self._connection.execute(statement), "tenant", tenant_id)


class SqlApiKeyRepository(Repository):
    async def add(self, tenant_id: int, name: str, prefix: str, key_hash: str) -> ApiKeyInfo:
        statement = (
            api_keys.insert()
            .values(tenant_id=tenant_id, name=name, prefix=prefix, key_hash=key_hash)
            .returning(*api_keys.c)
        )
        return _api_key((await self._connection.execute(statement)).one())

    async def tenant_for_hash(self, key_hash: str) -> int | None:
        query = select(api_keys.c.tenant_id).where(
            api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
        )
        return (await self._connection.execute(query)).scalar_one_or_none()

    async def list(self, tenant_id: int) -> list[ApiKeyInfo]:
        query = select(api_keys).where(api_keys.c.tenant_id == tenant_id).order_by(api_keys.c.id)
        return [_api_key(row) for row in await self._connection.execute(query)]

    async def revoke(self, tenant_id: int, key_id: int) -> None:
        """Revoke the key; revoking it again keeps the first revocation time."""
        statement = (
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.tenant_id == tenant_id)
            .values(revoked_at=func.coalesce(api_keys.c.revoked_at, literal(utcnow(), UtcDateTime)))
        )
        require_changed(await self._connection.execute(statement), "API key", key_id)
