"""After start-up, a long-running process moves what start-up left out of the collector's way;
what it allocates later is collected as before."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from easyflow.app import create_app
from easyflow.bootstrap import settle_start_up_objects
from support.hub import hub_settings


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    # This test process builds hubs by the hundred: nothing may stay frozen after a test.
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_what_lives_at_start_up_is_frozen_and_later_garbage_is_still_collected() -> None:
    assert gc.get_freeze_count() == 0
    settle_start_up_objects()
    assert gc.get_freeze_count() > 10_000  # modules, classes, functions: all of start-up
    later = _Node()
    gone = weakref.ref(later)
    del later
    gc.collect()
    assert gone() is None


async def test_serve_settles_once_started_and_a_test_app_does_not(
    tmp_path: Path, encryption_key: str
) -> None:
    settings = hub_settings(f"sqlite:///{tmp_path / 'hub.db'}", tmp_path, encryption_key)
    plain = create_app(settings)
    async with plain.router.lifespan_context(plain):
        assert gc.get_freeze_count() == 0
    served = create_app(settings, long_running=True)  # what `easyflow serve` runs
    async with served.router.lifespan_context(served):
        assert gc.get_freeze_count() > 10_000
