"""Two tenants with a Telegram integration each: most storage tests need both."""

from __future__ import annotations

import pytest

from easyflow.domain.ai import AiProfile
from easyflow.domain.tenancy import Capability
from easyflow.storage import SqlUnitOfWorkFactory

from .helpers import BOT_TOKEN, Tenancy


@pytest.fixture
async def tenancy(uow_factory: SqlUnitOfWorkFactory) -> Tenancy:
    async with uow_factory() as uow:
        a = await uow.tenants.add("Shop A", AiProfile())
        b = await uow.tenants.add("Shop B", AiProfile())
        integration_a = await uow.integrations.add(
            a.id, "telegram", Capability.MESSENGER, "A bot", {"token": BOT_TOKEN}, {}, "secret-a"
        )
        integration_b = await uow.integrations.add(
            b.id, "telegram", Capability.MESSENGER, "B bot", {"token": "b-token"}, {}, "secret-b"
        )
        await uow.commit()
    return Tenancy(a.id, b.id, integration_a.id, integration_b.id)
