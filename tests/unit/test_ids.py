"""Request and task ids: unique in a process and across processes, forked ones included."""

from __future__ import annotations

import multiprocessing
import re

from easyflow.observability.ids import new_id


def _ids_in_child(queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([new_id() for _ in range(3)])


def test_ids_are_32_hex_digits_and_never_repeat() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


def test_a_forked_process_does_not_repeat_its_parents_ids() -> None:
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    mine = {new_id() for _ in range(3)}
    children = [context.Process(target=_ids_in_child, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    theirs = [queue.get(timeout=10) for _ in children]
    for child in children:
        child.join()
    assert len(mine | set(theirs[0]) | set(theirs[1])) == 9
