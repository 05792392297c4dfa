"""Cool-downs of AI providers: one suite over the in-process store and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from easyflow.state.cooldown import InMemoryCooldowns, RedisCooldowns
from support.scratch_redis import scratch_redis


@pytest.fixture(params=["memory", "redis"])
async def cooldowns(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield InMemoryCooldowns()
        return
    async with scratch_redis() as (redis, prefix):
        yield RedisCooldowns(redis, prefix=prefix)


async def test_the_threshold_th_failure_cools_down(cooldowns: Any) -> None:
    rule = {"threshold": 3, "window": 60.0, "seconds": 60.0}
    assert await cooldowns.failed("ai:1", **rule) is False
    assert await cooldowns.failed("ai:1", **rule) is False
    assert await cooldowns.cooling(["ai:1", "ai:2"]) == set()
    assert await cooldowns.failed("ai:1", **rule) is True
    assert await cooldowns.cooling(["ai:1", "ai:2"]) == {"ai:1"}


async def test_a_success_clears_the_failures(cooldowns: Any) -> None:
    rule = {"threshold": 2, "window": 60.0, "seconds": 60.0}
    await cooldowns.failed("ai:1", **rule)
    await cooldowns.succeeded("ai:1")
    assert await cooldowns.failed("ai:1", **rule) is False
    assert await cooldowns.cooling(["ai:1"]) == set()


async def test_cool_at_once_and_never_shorter(cooldowns: Any) -> None:
    await cooldowns.cool("ai:1", 600)
    await cooldowns.cool("ai:1", 1)
    assert await cooldowns.cooling(["ai:1"]) == {"ai:1"}
    assert await cooldowns.cooling([]) == set()


async def test_failures_outside_the_window_do_not_add_up() -> None:
    now = [0.0]
    cooldowns = InMemoryCooldowns(clock=lambda: now[0])
    rule = {"threshold": 2, "window": 10.0, "seconds": 30.0}
    await cooldowns.failed("ai:1", **rule)
    now[0] = 11.0
    assert await cooldowns.failed("ai:1", **rule) is False
    now[0] = 12.0
    assert await cooldowns.failed("ai:1", **rule) is True
    now[0] = 41.0
    assert await cooldowns.cooling(["ai:1"]) == {"ai:1"}
    now[0] = 42.5
    assert await cooldowns.cooling(["ai:1"]) == set()
