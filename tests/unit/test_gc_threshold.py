"""The hub's collector threshold: raised for the process, never lowered."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from easyflow.bootstrap import GC_YOUNG_THRESHOLD, collect_less_often


@pytest.fixture
def threshold() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("threshold")
def test_the_young_threshold_is_raised_and_the_others_kept() -> None:
    gc.set_threshold(700, 10, 10)
    collect_less_often()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)


@pytest.mark.usefixtures("threshold")
def test_a_higher_threshold_set_by_the_process_is_kept() -> None:
    gc.set_threshold(GC_YOUNG_THRESHOLD * 5, 20, 30)
    collect_less_often()
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD * 5, 20, 30)
