"""Orders and products of a marketplace emulator, cheap enough to hold a million.

Generated orders are a pure function of their index (price, product, stage) and of the
segment they were generated in (creation time), so `generate(1_000_000)` stores one segment,
not a million rows. Only what changes afterwards — a status moved, a late edit, a phone —
is stored, per order, and kept sorted by change time so a "changed since" scan merges the
untouched segments (arithmetic) with the edits (bisect) in order of (change time, index).
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

NEW, ASSEMBLING, SHIPPED, DELIVERED, CANCELLED = 0, 1, 2, 3, -1
# A status the platform introduced and the hub does not know yet (a mapping error to record).
UNKNOWN = 9
STAGES = {
    "unknown": UNKNOWN,
    "new": NEW,
    "assembling": ASSEMBLING,
    "shipped": SHIPPED,
    "delivered": DELIVERED,
    "cancelled": CANCELLED,
}
STAGE_NAMES = {v: k for k, v in STAGES.items()}


def mix(i: int, salt: int = 0) -> int:
    """A cheap, well-spread hash of an index (Knuth's multiplicative, then xorshift)."""
    x = (i * 2654435761 + salt * 40503 + 0x9E3779B9) & 0xFFFFFFFF
    x ^= x >> 15
    return (x * 2246822519) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Segment:
    first: int
    count: int
    t0: float
    step: float

    def time(self, i: int) -> float:
        return self.t0 + (i - self.first) * self.step

    def indices_from(self, lo: float) -> Iterator[int]:
        k = 0 if lo <= self.t0 else math.ceil((lo - self.t0) / self.step - 1e-9)
        yield from range(self.first + max(0, k), self.first + self.count)


@dataclass(slots=True)
class Edit:
    changed_at: float
    stage: int
    phone: str | None = None


@dataclass
class OrderBook:
    """Orders by index 0..n-1."""

    seed: int = 0
    products: int = 100
    segments: list[Segment] = field(default_factory=list)
    edits: dict[int, Edit] = field(default_factory=dict)
    _by_change: list[tuple[float, int]] = field(default_factory=list)

    @property
    def n(self) -> int:
        last = self.segments[-1] if self.segments else None
        return last.first + last.count if last else 0

    def generate(self, count: int, start: float, end: float) -> range:
        """`count` orders created evenly between `start` and `end`."""
        first = self.n
        step = (end - start) / count if count > 1 else 0.0
        self.segments.append(Segment(first, count, start, max(step, 1e-6)))
        return range(first, first + count)

    def segment(self, i: int) -> Segment:
        if len(self.segments) == 1 and 0 <= i < self.segments[0].count:
            return self.segments[0]  # the common case, on every rendered order
        if not 0 <= i < self.n:
            raise KeyError(i)
        firsts = [s.first for s in self.segments]
        return self.segments[bisect.bisect_right(firsts, i) - 1]

    def created_at(self, i: int) -> float:
        return self.segment(i).time(i)

    def changed_at(self, i: int) -> float:
        edit = self.edits.get(i)
        return edit.changed_at if edit else self.created_at(i)

    def stage(self, i: int) -> int:
        edit = self.edits.get(i)
        if edit:
            return edit.stage
        h = mix(i, self.seed)
        return CANCELLED if h % 20 == 0 else (h // 20) % 4

    def phone(self, i: int) -> str | None:
        edit = self.edits.get(i)
        return edit.phone if edit else None

    def product(self, i: int) -> int:
        return mix(i, self.seed + 1) % max(1, self.products)

    def quantity(self, i: int) -> int:
        return 1 + mix(i, self.seed + 2) % 3

    def price_kopecks(self, i: int) -> int:
        return (500 + mix(i, self.seed + 3) % 9500) * 100

    def change(
        self, i: int, at: float, *, stage: int | None = None, phone: str | None = None
    ) -> None:
        """Record a change of order `i` at `at` (a status move, an edit, a phone)."""
        old = self.edits.get(i)
        if old is not None:
            self._by_change.remove((old.changed_at, i))
        new = Edit(
            at,
            self.stage(i) if stage is None else stage,
            phone if phone is not None else self.phone(i),
        )
        self.edits[i] = new
        bisect.insort(self._by_change, (at, i))

    def scan(
        self, since: float | None, until: float | None, after: tuple[float, int] | None = None
    ) -> Iterator[int]:
        """Indices changed in [since, until], ordered by (change time, index), after `after`."""
        lo = max(since if since is not None else -math.inf, after[0] if after else -math.inf)
        streams = [self._base(s, lo) for s in self.segments]
        start = bisect.bisect_left(self._by_change, (lo, -1))
        streams.append(iter(self._by_change[start:]))
        for t, i in heapq.merge(*streams):
            if until is not None and t > until:
                return
            if after is not None and (t, i) <= after:
                continue
            yield i

    def scan_down(
        self, since: float | None, until: float | None, before: tuple[float, int] | None = None
    ) -> Iterator[int]:
        """`scan` in reverse: indices changed in [since, until], newest (change time, index)
        first, before `before`."""
        hi = min(until if until is not None else math.inf, before[0] if before else math.inf)
        lo = since if since is not None else -math.inf
        streams = [self._base_down(s, hi) for s in self.segments]
        stop = bisect.bisect_right(self._by_change, (hi, math.inf))
        streams.append(reversed(self._by_change[:stop]))
        for t, i in heapq.merge(*streams, reverse=True):
            if t < lo:
                return
            if (until is not None and t > until) or (before is not None and (t, i) >= before):
                continue
            yield i

    def _base_down(self, segment: Segment, hi: float) -> Iterator[tuple[float, int]]:
        top = segment.count - 1
        if hi < math.inf:
            top = min(top, math.floor((hi - segment.t0) / segment.step + 1e-9))
        for k in range(top, -1, -1):
            i = segment.first + k
            if i not in self.edits:
                yield segment.time(i), i

    def _base(self, segment: Segment, lo: float) -> Iterator[tuple[float, int]]:
        for i in segment.indices_from(lo):
            if i not in self.edits:
                yield segment.time(i), i


@dataclass
class ProductBook:
    """Products by index; removed ones go to the trash (WB) or the archive (Ozon)."""

    count: int = 0
    t0: float = 1_700_000_000.0
    removed: set[int] = field(default_factory=set)
    touched: dict[int, float] = field(default_factory=dict)
    stocks: dict[tuple[str, str], int] = field(default_factory=dict)
    stock_updated_at: dict[tuple[str, str], float] = field(default_factory=dict)

    def updated_at(self, j: int) -> float:
        return self.touched.get(j, self.t0 + j)

    def live(self) -> list[int]:
        """Listed products ordered by (updated time, index)."""
        return sorted(
            (j for j in range(self.count) if j not in self.removed),
            key=lambda j: (self.updated_at(j), j),
        )
