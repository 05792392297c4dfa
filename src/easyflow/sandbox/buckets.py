"""A token bucket as marketplaces document theirs: `limit` per `period`, `burst` at once."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Limit:
    period: float
    limit: int
    burst: int


@dataclass
class Bucket:
    rule: Limit
    tokens: float = field(default=-1.0)
    at: float = 0.0

    def take(self, now: float, cost: float = 1.0) -> tuple[bool, float]:
        """(allowed, seconds until `cost` tokens are there when not)."""
        rate = self.rule.limit / self.rule.period
        if self.tokens < 0:
            self.tokens, self.at = float(self.rule.burst), now
        self.tokens = min(float(self.rule.burst), self.tokens + (now - self.at) * rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= cost
            return True, 0.0
        return False, (1.0 - self.tokens) / rate

    def remaining(self) -> int:
        return max(0, int(self.tokens))

    def full_in(self) -> float:
        rate = self.rule.limit / self.rule.period
        return max(0.0, (self.rule.burst - self.tokens) / rate)


class Buckets:
    """Buckets by (credential, group), created on first use from the group's rule."""

    def __init__(self, rules: dict[str, Limit]) -> None:
        self.rules = dict(rules)
        self._buckets: dict[tuple[str, str], Bucket] = {}

    def get(self, key: str, group: str) -> Bucket | None:
        rule = self.rules.get(group.split(":")[0])
        if rule is None:
            return None
        bucket = self._buckets.get((key, group))
        if bucket is None or bucket.rule != rule:
            bucket = self._buckets[(key, group)] = Bucket(rule)
        return bucket

    def clear(self) -> None:
        self._buckets.clear()
