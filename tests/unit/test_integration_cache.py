"""Intake's integration cache: bounded, never past a rotated-out secret's expiry, and
invalidated in every process that shares the Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from easyflow.domain.tenancy import Capability, Integration, IntegrationStatus
from easyflow.state.integration_cache import InMemoryIntegrationCache, RedisIntegrationCache

REDIS_URL = "redis://127.0.0.1:6379/14"


def _integration(integration_id: int, *secrets: str) -> Integration:
    return Integration(
        id=integration_id,
        tenant_id=1,
        platform="telegram",
        kind=Capability.MESSENGER,
        name="bot",
        status=IntegrationStatus.ACTIVE,
        credentials={"token": "t"},
        settings={},
        created_at=datetime.now(UTC),
        webhook_secrets=secrets or (f"secret-{integration_id}",),
    )


def test_found_by_id_and_by_each_accepted_secret() -> None:
    cache = InMemoryIntegrationCache(ttl=60)
    cache.put(_integration(1, "new", "old"))
    assert cache.get("telegram", 1) is not None
    assert (
        cache.find("telegram", "old") == cache.find("telegram", "new") == cache.get("telegram", 1)
    )
    assert cache.find("telegram", "other") is None
    assert cache.find("viber", "new") is None  # the platform is part of the key


def test_bounded_least_recently_used_first() -> None:
    cache = InMemoryIntegrationCache(ttl=60, max_entries=2)
    cache.put(_integration(1))
    cache.put(_integration(2))
    cache.get("telegram", 1)
    cache.put(_integration(3))
    assert len(cache) == 2
    assert cache.get("telegram", 2) is None
    assert cache.find("telegram", "secret-2") is None
    assert cache.get("telegram", 1) is not None


def test_an_entry_ends_when_its_previous_secret_does() -> None:
    cache = InMemoryIntegrationCache(ttl=60)
    expired = datetime.now(UTC) - timedelta(seconds=1)
    cache.put(replace(_integration(1, "new", "old"), previous_secret_expires_at=expired))
    assert cache.get("telegram", 1) is None  # read again: the old secret is gone by now
    assert InMemoryIntegrationCache(ttl=0).get("telegram", 1) is None


def test_invalidation_drops_the_secret_index_too() -> None:
    cache = InMemoryIntegrationCache(ttl=60)
    cache.put(_integration(1, "s"))
    asyncio.run(cache.invalidate(1))
    assert cache.get("telegram", 1) is None
    assert cache.find("telegram", "s") is None


@pytest.fixture
async def redis_pair() -> AsyncIterator[tuple[RedisIntegrationCache, RedisIntegrationCache]]:
    first, second = aioredis.from_url(REDIS_URL), aioredis.from_url(REDIS_URL)
    caches = RedisIntegrationCache(first, ttl=3600), RedisIntegrationCache(second, ttl=3600)
    for cache in caches:
        await cache.start()
        await asyncio.wait_for(cache.wait_subscribed(), 10)
    try:
        yield caches
    finally:
        for cache in caches:
            await cache.aclose()
        await first.aclose()
        await second.aclose()


async def test_an_invalidation_reaches_every_process_sharing_the_redis(
    redis_pair: tuple[RedisIntegrationCache, RedisIntegrationCache],
) -> None:
    here, there = redis_pair
    integration_id = uuid.uuid4().int % 10**9
    for cache in (here, there):
        cache.put(_integration(integration_id, "s"))
        cache.put(_integration(integration_id + 1))
    await here.invalidate(integration_id)  # rotate, pause, resume or delete in this process
    assert here.get("telegram", integration_id) is None
    async with asyncio.timeout(10):
        while there.get("telegram", integration_id) is not None:  # noqa: ASYNC110 (another connection)
            await asyncio.sleep(0.01)
    assert there.find("telegram", "s") is None
    assert there.get("telegram", integration_id + 1) is not None  # only that one


async def test_any_invalidation_drops_every_tenants_chat_models_in_every_process(
    redis_pair: tuple[RedisIntegrationCache, RedisIntegrationCache],
) -> None:
    # An AI integration just added is known by its id alone: the lists of every tenant go.
    here, there = redis_pair
    model = replace(_integration(7), platform="openai", kind=Capability.CHAT_MODEL)
    for cache in (here, there):
        cache.put_chat_models(1, (model,))
        cache.put_chat_models(2, ())
        assert cache.chat_models(1) == (model,)
        assert cache.chat_models(2) == ()  # "none connected" is cached too
    await here.invalidate(uuid.uuid4().int % 10**9)  # an integration of nobody cached
    assert here.chat_models(1) is None
    async with asyncio.timeout(10):
        while there.chat_models(1) is not None:  # noqa: ASYNC110 (another connection)
            await asyncio.sleep(0.01)
    assert there.chat_models(2) is None


def test_chat_models_are_bounded_and_expire() -> None:
    cache = InMemoryIntegrationCache(ttl=60, max_entries=2)
    for tenant_id in (1, 2, 3):
        cache.put_chat_models(tenant_id, ())
    assert cache.chat_models(1) is None  # the least recently used went
    assert cache.chat_models(3) == ()
    uncached = InMemoryIntegrationCache(ttl=0)
    uncached.put_chat_models(1, ())
    assert uncached.chat_models(1) is None
