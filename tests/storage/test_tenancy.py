"""Tenants, API keys and integrations: encrypted secrets, webhook lookup, tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.domain.ai import AiProfile, FaqEntry
from easyflow.domain.errors import NotFoundError
from easyflow.domain.tenancy import Capability, IntegrationStatus
from easyflow.storage import CredentialCipher, SqlUnitOfWorkFactory, generate_key
from easyflow.storage.tables import integrations

from .helpers import BOT_TOKEN, Tenancy

OVERLAP = {"previous_expires_at": datetime.now(UTC) + timedelta(hours=1)}

PROFILE = AiProfile(
    system_prompt="You sell tea.",
    faq=(FaqEntry("delivery", ("доставка", "delivery"), "2-3 days"),),
    providers=("openai", "local"),
)


async def test_tenant_round_trip_and_profile_update(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        tenant = await uow.tenants.add("Tea shop", AiProfile())
        await uow.tenants.set_ai_profile(tenant.id, PROFILE)
        await uow.commit()

    async with uow_factory() as uow:
        stored = await uow.tenants.get(tenant.id)
        listed = await uow.tenants.list()
        with pytest.raises(NotFoundError):
            await uow.tenants.get(tenant.id + 1000)
        with pytest.raises(NotFoundError):
            await uow.tenants.set_ai_profile(tenant.id + 1000, PROFILE)

    assert stored.ai_profile == PROFILE
    assert stored.created_at.tzinfo is not None
    assert [t.name for t in listed] == ["Tea shop"]


async def test_api_keys_resolve_until_revoked_and_only_by_their_tenant(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        key = await uow.api_keys.add(tenancy.tenant_a, "ci", "ef_ab12", "hash-1")
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.api_keys.tenant_for_hash("hash-1") == tenancy.tenant_a
        assert await uow.api_keys.tenant_for_hash("hash-2") is None
        with pytest.raises(NotFoundError):
            await uow.api_keys.revoke(tenancy.tenant_b, key.id)
        await uow.api_keys.revoke(tenancy.tenant_a, key.id)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.api_keys.tenant_for_hash("hash-1") is None
        (listed,) = await uow.api_keys.list(tenancy.tenant_a)
        assert await uow.api_keys.list(tenancy.tenant_b) == []
    assert listed.revoked_at is not None and listed.prefix == "ef_ab12"


async def test_credentials_are_stored_encrypted_and_read_back_decrypted(
    uow_factory: SqlUnitOfWorkFactory, db_engine: AsyncEngine, tenancy: Tenancy
) -> None:
    async with db_engine.connect() as connection:
        row = (await connection.execute(select(integrations))).mappings().first()
    assert row is not None
    async with uow_factory() as uow:
        integration = await uow.integrations.get(tenancy.tenant_a, tenancy.integration_a)

    stored = " ".join(str(value) for value in row.values())
    assert BOT_TOKEN not in stored and "secret-a" not in stored
    assert integration.credentials == {"token": BOT_TOKEN}
    assert integration.webhook_secrets == ("secret-a",)
    assert BOT_TOKEN not in repr(integration) and "secret-a" not in repr(integration)


async def test_rotating_the_encryption_key(
    db_engine: AsyncEngine, encryption_key: str, tenancy: Tenancy
) -> None:
    new_key = generate_key()
    rotating = SqlUnitOfWorkFactory(db_engine, CredentialCipher([new_key, encryption_key]))
    new_only = SqlUnitOfWorkFactory(db_engine, CredentialCipher([new_key]))

    async with rotating() as uow:
        report = await uow.reencrypt_secrets()
        assert (report.rewritten, report.unreadable) == (2, ())
        await uow.commit()

    async with new_only() as uow:
        integration = await uow.integrations.get(tenancy.tenant_a, tenancy.integration_a)
    assert integration.credentials == {"token": BOT_TOKEN}
    assert integration.webhook_secrets == ("secret-a",)


async def test_webhook_secret_lookup_current_previous_and_wrong(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        await uow.integrations.set_webhook_secret(
            tenancy.tenant_a, tenancy.integration_a, "new-a", **OVERLAP
        )
        await uow.commit()

    async with uow_factory() as uow:
        current = await uow.integrations.find_by_webhook_secret("telegram", "new-a")
        previous = await uow.integrations.find_by_webhook_secret("telegram", "secret-a")
        other = await uow.integrations.find_by_webhook_secret("telegram", "secret-b")
        wrong = await uow.integrations.find_by_webhook_secret("telegram", "guess")
        other_platform = await uow.integrations.find_by_webhook_secret("vk", "new-a")

    assert current is not None and current.id == tenancy.integration_a
    assert current.webhook_secrets == ("new-a", "secret-a")
    assert previous is not None and previous.id == tenancy.integration_a
    assert other is not None and other.id == tenancy.integration_b
    assert wrong is None and other_platform is None


async def test_a_second_rotation_retires_the_oldest_secret(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    async with uow_factory() as uow:
        await uow.integrations.set_webhook_secret(
            tenancy.tenant_a, tenancy.integration_a, "two", **OVERLAP
        )
        await uow.integrations.set_webhook_secret(
            tenancy.tenant_a, tenancy.integration_a, "three", **OVERLAP
        )
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.integrations.find_by_webhook_secret("telegram", "secret-a") is None
        assert await uow.integrations.find_by_webhook_secret("telegram", "two") is not None
        integration = await uow.integrations.get(tenancy.tenant_a, tenancy.integration_a)
    assert integration.webhook_secrets == ("three", "two")


async def test_another_tenant_cannot_read_change_or_delete_an_integration(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    b, theirs = tenancy.tenant_b, tenancy.integration_a
    async with uow_factory() as uow:
        with pytest.raises(NotFoundError):
            await uow.integrations.get(b, theirs)
        with pytest.raises(NotFoundError):
            await uow.integrations.set_status(b, theirs, IntegrationStatus.PAUSED)
        with pytest.raises(NotFoundError):
            await uow.integrations.set_webhook_secret(b, theirs, "hijack", **OVERLAP)
        with pytest.raises(NotFoundError):
            await uow.integrations.delete(b, theirs)
        listed = await uow.integrations.list(b)
        await uow.commit()

    async with uow_factory() as uow:
        integration = await uow.integrations.get(tenancy.tenant_a, theirs)
    assert [i.id for i in listed] == [tenancy.integration_b]
    assert integration.is_active and integration.webhook_secrets == ("secret-a",)


async def test_listing_filters_status_and_delete(
    uow_factory: SqlUnitOfWorkFactory, tenancy: Tenancy
) -> None:
    a = tenancy.tenant_a
    async with uow_factory() as uow:
        ai = await uow.integrations.add(
            a, "openai", Capability.CHAT_MODEL, "GPT", {"api_key": "k"}, {}
        )
        await uow.integrations.set_status(
            tenancy.tenant_b, tenancy.integration_b, IntegrationStatus.PAUSED
        )
        await uow.commit()

    async with uow_factory() as uow:
        ai_only = await uow.integrations.list(a, platforms=("openai", "anthropic"))
        telegram = await uow.integrations.list(a, platform="telegram")
        active = await uow.integrations.list_all_active()
        active_ai = await uow.integrations.list_all_active(["openai"])
        for_webhook = await uow.integrations.get_for_webhook("telegram", tenancy.integration_a)
        wrong_platform = await uow.integrations.get_for_webhook("vk", tenancy.integration_a)
        await uow.integrations.delete(a, ai.id)
        await uow.commit()

    async with uow_factory() as uow:
        remaining = await uow.integrations.list(a)
    assert [i.id for i in ai_only] == [ai.id] and ai_only[0].webhook_secrets == ()
    assert [i.id for i in telegram] == [tenancy.integration_a]
    assert [i.id for i in active] == [tenancy.integration_a, ai.id]
    assert [i.id for i in active_ai] == [ai.id]
    assert for_webhook is not None and wrong_platform is None
    assert [i.id for i in remaining] == [tenancy.integration_a]
