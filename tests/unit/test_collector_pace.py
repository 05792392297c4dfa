"""The sync step's collector pace: raised while any step runs, put back after the last."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from easyflow.services.sync import CollectorPace


@pytest.fixture(autouse=True)
def _threshold_kept() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def test_the_threshold_is_raised_for_overlapping_steps_and_restored_after_the_last() -> None:
    pace = CollectorPace(10_000)
    first, second = pace.during_step(), pace.during_step()
    first.__enter__()
    second.__enter__()
    assert gc.get_threshold() == (10_000, 10, 10)
    first.__exit__(None, None, None)
    assert gc.get_threshold() == (10_000, 10, 10)  # the second step still runs
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_a_failing_step_puts_it_back() -> None:
    pace = CollectorPace(10_000)
    with pytest.raises(RuntimeError), pace.during_step():
        raise RuntimeError("page unreadable")
    assert gc.get_threshold() == (700, 10, 10)


def test_a_higher_threshold_set_elsewhere_is_left_alone() -> None:
    gc.set_threshold(50_000, 10, 10)
    with CollectorPace(10_000).during_step():
        assert gc.get_threshold() == (50_000, 10, 10)
    assert gc.get_threshold() == (50_000, 10, 10)
