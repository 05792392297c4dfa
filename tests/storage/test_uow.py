"""The unit of work: one transaction; nothing is kept without commit()."""

from __future__ import annotations

import pytest

from easyflow.domain.ai import AiProfile
from easyflow.ports import UnitOfWorkFactory
from easyflow.storage import SqlUnitOfWorkFactory


def _as_port(factory: SqlUnitOfWorkFactory) -> UnitOfWorkFactory:
    return factory  # mypy checks that the SQL factory implements the port


async def _names(factory: UnitOfWorkFactory) -> list[str]:
    async with factory() as uow:
        return [tenant.name for tenant in await uow.tenants.list()]


async def test_leaving_without_commit_keeps_nothing(uow_factory: SqlUnitOfWorkFactory) -> None:
    factory = _as_port(uow_factory)
    async with factory() as uow:
        await uow.tenants.add("forgotten", AiProfile())

    assert await _names(factory) == []


async def test_an_exception_rolls_back_and_propagates(uow_factory: SqlUnitOfWorkFactory) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with uow_factory() as uow:
            await uow.tenants.add("half-done", AiProfile())
            raise RuntimeError("boom")

    assert await _names(uow_factory) == []


async def test_commit_keeps_and_later_work_needs_its_own_commit(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    async with uow_factory() as uow:
        await uow.tenants.add("kept", AiProfile())
        await uow.commit()
        await uow.tenants.add("not kept", AiProfile())

    assert await _names(uow_factory) == ["kept"]


async def test_repositories_share_one_transaction(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        tenant = await uow.tenants.add("shop", AiProfile())
        await uow.api_keys.add(tenant.id, "ci", "ef_1", "hash")
        assert await uow.api_keys.tenant_for_hash("hash") == tenant.id
        await uow.rollback()
        assert await uow.api_keys.tenant_for_hash("hash") is None


async def test_a_unit_is_used_once_and_only_inside_its_block(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    uow = uow_factory()
    with pytest.raises(RuntimeError):
        await uow.commit()
    async with uow:
        with pytest.raises(RuntimeError):
            await uow.__aenter__()
    assert repr(uow_factory).startswith("SqlUnitOfWorkFactory(")
