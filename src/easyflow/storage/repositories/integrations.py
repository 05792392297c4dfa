"""Integrations: connected platform accounts, with credentials and webhook secrets encrypted.

Secrets are encrypted on the way in and decrypted on the way out, so nothing outside this
module sees a token, and the domain `Integration` keeps them out of its repr. An inbound
secret is found by its sha256 (one indexed lookup) and then compared in constant time with
the decrypted secret. After a rotation the previous secret is accepted until its expiry only.

A row the configured keys cannot decrypt raises `UndecryptableError` naming the integration
(a 503: the operator's key is missing), except on the webhook lookups, where it is no
integration at all (401): a secret that cannot be read cannot authenticate anyone.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from easyflow.domain.tenancy import Capability, Integration, IntegrationStatus
from easyflow.storage.crypto import CredentialCipher, UndecryptableError
from easyflow.storage.repositories.base import Repository, require_changed, require_row
from easyflow.storage.tables import integrations
from easyflow.storage.types import utcnow

log = structlog.get_logger("easyflow.storage")

_SECRET_COLUMNS = (
    "credentials_encrypted",
    "webhook_secret_encrypted",
    "previous_webhook_secret_encrypted",
)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """An integration whose stored secrets the configured keys cannot decrypt."""

    integration_id: int
    tenant_id: int
    platform: str


@dataclass(frozen=True, slots=True)
class ReencryptReport:
    rewritten: int
    unreadable: tuple[UnreadableRow, ...]


class SqlIntegrationRepository(Repository):
    def __init__(self, connection: AsyncConnection, cipher: CredentialCipher) -> None:
        super().__init__(connection)
        self._cipher = cipher

    async def add(
        self,
        tenant_id: int,
        platform: str,
        kind: Capability,
        name: str,
        credentials: dict[str, str],
        settings: dict[str, Any],
        webhook_secret: str | None = None,
    ) -> Integration:
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "platform": platform,
            "kind": kind.value,
            "name": name,
            "status": IntegrationStatus.ACTIVE.value,
            "credentials_encrypted": self._cipher.encrypt_json(credentials),
            "settings": settings,
        }
        if webhook_secret is not None:
            values["webhook_secret_encrypted"] = self._cipher.encrypt(webhook_secret)
            values["webhook_secret_hash"] = secret_hash(webhook_secret)
        statement = integrations.insert().values(values).returning(*integrations.c)
        return self._integration((await self._connection.execute(statement)).one())

    async def get(
        self, tenant_id: int, integration_id: int, *, for_update: bool = False
    ) -> Integration:
        query = select(integrations).where(
            integrations.c.id == integration_id, integrations.c.tenant_id == tenant_id
        )
        if for_update:  # SQLite has no FOR UPDATE: its units lock the database (BEGIN IMMEDIATE)
            query = query.with_for_update()
        row = (await self._connection.execute(query)).first()
        return self._integration(require_row(row, "integration", integration_id))

    async def get_for_webhook(self, platform: str, integration_id: int) -> Integration | None:
        query = select(integrations).where(
            integrations.c.id == integration_id, integrations.c.platform == platform
        )
        row = (await self._connection.execute(query)).first()
        return None if row is None else self._readable(row)

    async def find_by_webhook_secret(self, platform: str, secret: str) -> Integration | None:
        digest = secret_hash(secret)
        query = select(integrations).where(
            integrations.c.platform == platform,
            or_(
                integrations.c.webhook_secret_hash == digest,
                integrations.c.previous_webhook_secret_hash == digest,
            ),
        )
        for row in await self._connection.execute(query):
            integration = self._readable(row)
            if integration is not None and _matches(secret, integration.webhook_secrets):
                return integration
        return None

    async def account_holders(self, platform: str, account_id: object) -> list[tuple[int, int]]:
        """(tenant id, integration id) of every integration of that platform account, in any
        status; reads no secret, so an unreadable row still counts."""
        query = select(integrations.c.tenant_id, integrations.c.id, integrations.c.settings).where(
            integrations.c.platform == platform
        )
        rows = await self._connection.execute(query.order_by(integrations.c.id))
        return [
            (row.tenant_id, row.id)
            for row in rows
            if isinstance(row.settings, dict) and row.settings.get("account_id") == account_id
        ]

    # Defined before `list`: below it, `list[...]` in an annotation names that method.
    async def list_all_active(self, platforms: Collection[str] | None = None) -> list[Integration]:
        query = select(integrations).where(integrations.c.status == IntegrationStatus.ACTIVE.value)
        if platforms is not None:
            query = query.where(integrations.c.platform.in_(list(platforms)))
        rows = await self._connection.execute(query.order_by(integrations.c.id))
        return [self._integration(row) for row in rows]

    async def list(
        self,
        tenant_id: int,
        *,
        platform: str | None = None,
        platforms: Collection[str] | None = None,
    ) -> list[Integration]:
        query = select(integrations).where(integrations.c.tenant_id == tenant_id)
        if platform is not None:
            query = query.where(integrations.c.platform == platform)
        if platforms is not None:
            query = query.where(integrations.c.platform.in_(list(platforms)))
        rows = await self._connection.execute(query.order_by(integrations.c.id))
        return [self._integration(row) for row in rows]

    async def set_status(
        self, tenant_id: int, integration_id: int, status: IntegrationStatus
    ) -> None:
        await self._update(tenant_id, integration_id, status=status.value)

    async def set_settings(
        self, tenant_id: int, integration_id: int, settings: Mapping[str, Any]
    ) -> None:
        await self._update(tenant_id, integration_id, settings=dict(settings), updated_at=utcnow())

    async def set_webhook_secret(
        self,
        tenant_id: int,
        integration_id: int,
        secret: str,
        *,
        previous_expires_at: datetime,
    ) -> None:
        """Make `secret` current; the old one is accepted until `previous_expires_at`."""
        columns = integrations.c
        await self._update(
            tenant_id,
            integration_id,
            # Every right-hand side reads the row as it was, so the current secret moves back.
            previous_webhook_secret_encrypted=columns.webhook_secret_encrypted,
            previous_webhook_secret_hash=columns.webhook_secret_hash,
            previous_webhook_secret_expires_at=previous_expires_at,
            webhook_secret_encrypted=self._cipher.encrypt(secret),
            webhook_secret_hash=secret_hash(secret),
        )

    async def delete(self, tenant_id: int, integration_id: int) -> None:
        statement = delete(integrations).where(
            integrations.c.id == integration_id, integrations.c.tenant_id == tenant_id
        )
        require_changed(await self._connection.execute(statement), "integration", integration_id)

    async def reencrypt_all(self) -> ReencryptReport:
        """Re-encrypt every stored secret with the cipher's first key.

        Run after putting a new key first, before dropping the old key from settings. A row
        no key can read is left as it is and reported; the others are rewritten.
        """
        rotated: builtins.list[dict[str, Any]] = []
        unreadable: builtins.list[UnreadableRow] = []
        for row in await self._secret_rows():
            try:
                rotated.append(self._rotated(row))
            except UndecryptableError:
                unreadable.append(UnreadableRow(row.id, row.tenant_id, row.platform))
        if rotated:
            statement = (
                update(integrations)
                .where(integrations.c.id == bindparam("row_id"))
                .values({name: bindparam(name) for name in _SECRET_COLUMNS})
            )
            await self._connection.execute(statement, rotated)
        return ReencryptReport(len(rotated), tuple(unreadable))

    async def unreadable(self) -> tuple[builtins.list[UnreadableRow], int]:
        """The integrations whose secrets the configured keys cannot decrypt, and how many
        integrations there are (the start-up check)."""
        rows = await self._secret_rows()
        bad = [
            UnreadableRow(row.id, row.tenant_id, row.platform)
            for row in rows
            if not self._decryptable(row)
        ]
        return bad, len(rows)

    async def _secret_rows(self) -> builtins.list[Row]:
        columns = integrations.c
        query = select(
            columns.id,
            columns.tenant_id,
            columns.platform,
            *(columns[name] for name in _SECRET_COLUMNS),
        ).order_by(columns.id)
        return list((await self._connection.execute(query)).all())

    def _decryptable(self, row: Row) -> bool:
        try:
            for name in _SECRET_COLUMNS:
                token = row._mapping[name]
                if token is not None:
                    self._cipher.decrypt(token)
        except UndecryptableError:
            return False
        return True

    async def _update(self, tenant_id: int, integration_id: int, **values: Any) -> None:
        statement = (
            update(integrations)
            .where(integrations.c.id == integration_id, integrations.c.tenant_id == tenant_id)
            .values(**values)
        )
        require_changed(await self._connection.execute(statement), "integration", integration_id)

    def _rotated(self, row: Row) -> dict[str, Any]:
        params: dict[str, Any] = {"row_id": row.id}
        for name in _SECRET_COLUMNS:
            token = row._mapping[name]
            params[name] = None if token is None else self._cipher.rotate(token)
        return params

    def _readable(self, row: Row) -> Integration | None:
        """The row, or None (logged) when the configured keys cannot decrypt it."""
        try:
            return self._integration(row)
        except UndecryptableError:
            log.error(
                "stored secrets cannot be decrypted with EASYFLOW_SECRET_KEYS",
                integration_id=row.id,
                tenant_id=row.tenant_id,
            )
            return None

    def _integration(self, row: Row) -> Integration:
        secrets = [row.webhook_secret_encrypted]
        expires_at = row.previous_webhook_secret_expires_at
        # A previous secret with no expiry predates expiries: it is not accepted any more.
        overlap = expires_at is not None and expires_at > utcnow()
        if overlap:
            secrets.append(row.previous_webhook_secret_encrypted)
        try:
            integration = self._decrypted(row, secrets)
        except UndecryptableError:
            raise UndecryptableError(
                f"the stored secrets of integration {row.id} cannot be decrypted with the "
                "configured keys (EASYFLOW_SECRET_KEYS)"
            ) from None
        if overlap:
            return replace(integration, previous_secret_expires_at=expires_at)
        return integration

    def _decrypted(self, row: Row, secrets: builtins.list[str | None]) -> Integration:
        return Integration(
            id=row.id,
            tenant_id=row.tenant_id,
            platform=row.platform,
            kind=Capability(row.kind),
            name=row.name,
            status=IntegrationStatus(row.status),
            credentials=self._cipher.decrypt_json(row.credentials_encrypted),
            settings=row.settings,
            created_at=row.created_at,
            webhook_secrets=tuple(self._cipher.decrypt(s) for s in secrets if s is not None),
        )


def _matches(secret: str, candidates: tuple[str, ...]) -> bool:
    given = secret.encode("utf-8")
    # Compare with every candidate, no early exit: the time says nothing about which matched.
    results = [hmac.compare_digest(given, c.encode("utf-8")) for c in candidates]
    return any(results)
