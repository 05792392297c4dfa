"""Tenants and their API keys.

An API key is shown once, when it is created: `ef_<prefix>_<secret>`. Only its SHA-256 is
stored (the secret has 256 bits of entropy, so a plain hash is enough; no slow KDF needed),
and the prefix lets a person tell keys apart in a list.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
from collections.abc import Sequence

from easyflow.domain.ai import AiProfile
from easyflow.domain.commerce import Order
from easyflow.domain.errors import UnauthenticatedError
from easyflow.domain.tenancy import ApiKeyInfo, Tenant
from easyflow.ports import UnitOfWorkFactory

KEY_PREFIX = "ef"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class TenantService:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def create(self, name: str, profile: AiProfile | None = None) -> Tenant:
        async with self._uow() as uow:
            tenant = await uow.tenants.add(name, profile or AiProfile())
            await uow.commit()
            return tenant

    async def list(self) -> builtins.list[Tenant]:
        async with self._uow() as uow:
            return await uow.tenants.list()

    async def get(self, tenant_id: int) -> Tenant:
        async with self._uow() as uow:
            return await uow.tenants.get(tenant_id)

    async def set_ai_profile(self, tenant_id: int, profile: AiProfile) -> None:
        async with self._uow() as uow:
            await uow.tenants.set_ai_profile(tenant_id, profile)
            await uow.commit()

    async def create_api_key(self, tenant_id: int, name: str = "default") -> tuple[ApiKeyInfo, str]:
        """The key's listing and the key itself, which is never available again."""
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        async with self._uow() as uow:
            await uow.tenants.get(tenant_id)
            info = await uow.api_keys.add(tenant_id, name, prefix, hash_api_key(key))
            await uow.commit()
        return info, key

    async def authenticate(self, key: str) -> int:
        """The tenant id of a valid key; UnauthenticatedError otherwise."""
        if not key.startswith(f"{KEY_PREFIX}_"):
            raise UnauthenticatedError("not an Easy Flow API key")
        async with self._uow() as uow:
            tenant_id = await uow.api_keys.tenant_for_hash(hash_api_key(key))
        if tenant_id is None:
            raise UnauthenticatedError("unknown or revoked API key")
        return tenant_id

    async def list_api_keys(self, tenant_id: int) -> builtins.list[ApiKeyInfo]:
        async with self._uow() as uow:
            return await uow.api_keys.list(tenant_id)

    async def revoke_api_key(self, tenant_id: int, key_id: int) -> None:
        async with self._uow() as uow:
            await uow.api_keys.revoke(tenant_id, key_id)
            await uow.commit()

    async def upsert_orders(self, tenant_id: int, orders: Sequence[Order]) -> int:
        """Store orders (the demo seeds a few until marketplace sync exists)."""
        async with self._uow() as uow:
            count = await uow.orders.upsert_many(tenant_id, orders)
            await uow.commit()
            return count

    async def ai_usage(self, tenant_id: int) -> dict[str, int]:
        async with self._uow() as uow:
            return await uow.ai_usage.totals(tenant_id)
