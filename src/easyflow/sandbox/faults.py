"""Fault injection shared by every emulator (5xx rates, 429 storms, latency,
timeouts, malformed bodies).

A `FaultSpec` says which calls it hits (platform, optional method name and path prefix) and
what happens to them:

- `http_error`: answer `status` with the platform's own error body;
- `rate_limit`: answer 429 with the platform's own hint (Telegram `parameters.retry_after`,
  OpenAI `retry-after`/`retry-after-ms`; `code="insufficient_quota"` gives OpenAI's billing
  flavour);
- `latency`: wait `latency_ms`, then handle the call normally;
- `timeout`: hold the response `hold_seconds`, then fail with 504 and no side effect;
- `malformed`: answer 200 with a truncated JSON body.

A spec fires on the next `count` matching calls, or on each one with probability `rate` drawn
from the engine's seeded RNG, or (neither given) on every matching call. The engine only
decides; each emulator renders the fault in its own envelope.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FaultKind = Literal["http_error", "rate_limit", "latency", "timeout", "malformed"]


class FaultSpec(BaseModel):
    """What a client posts to `/_sandbox/faults`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: str = Field(min_length=1, description="emulator slug, e.g. telegram, openai")
    kind: FaultKind
    method: str | None = Field(default=None, description="platform operation, any case")
    path: str | None = Field(default=None, description="prefix of the path below /<platform>")
    status: int = Field(default=500, ge=400, le=599, description="http_error status")
    message: str | None = Field(default=None, description="replaces the platform's text")
    code: str | None = Field(default=None, description="platform error code (OpenAI)")
    retry_after: float | None = Field(default=None, gt=0, le=86_400, description="seconds")
    latency_ms: int = Field(default=0, ge=0, le=600_000)
    hold_seconds: float = Field(default=60.0, ge=0, le=3_600)
    should_retry: bool | None = Field(default=None, description="OpenAI x-should-retry header")
    count: int | None = Field(default=None, ge=1)
    rate: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_trigger(self) -> FaultSpec:
        if self.count is not None and self.rate is not None:
            raise ValueError("give either count or rate, not both")
        return self

    def matches(self, platform: str, method: str | None, path: str | None) -> bool:
        if platform != self.platform:
            return False
        if self.method is not None and (method or "").lower() != self.method.lower():
            return False
        return self.path is None or (path or "").startswith(self.path)


@dataclass
class Fault:
    """An installed spec and its bookkeeping."""

    id: str
    spec: FaultSpec
    remaining: int | None
    hits: int = 0

    @property
    def kind(self) -> FaultKind:
        return self.spec.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.model_dump(),
            "remaining": self.remaining,
            "hits": self.hits,
        }


class FaultEngine:
    """Holds the installed faults and picks the one (if any) that hits a call."""

    def __init__(self, seed: int = 0) -> None:
        self._seed = seed
        self._rng = random.Random(seed)  # noqa: S311 - simulation dice, seeded on purpose
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec) -> Fault:
        fault = Fault(id=f"fault-{next(self._ids)}", spec=spec, remaining=spec.count)
        self._faults.append(fault)
        return fault

    def installed(self) -> list[Fault]:
        return list(self._faults)

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) < before

    def clear(self) -> None:
        """Drop every fault and restart the RNG, so a reset sandbox replays the same dice."""
        self._faults.clear()
        self._rng = random.Random(self._seed)  # noqa: S311 - as above

    def pick(
        self, platform: str, method: str | None = None, path: str | None = None
    ) -> Fault | None:
        """The first installed fault that fires on this call, consuming one of its `count`."""
        for fault in self._faults:
            if fault.remaining == 0 or not fault.spec.matches(platform, method, path):
                continue
            if fault.spec.rate is not None and self._rng.random() >= fault.spec.rate:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            fault.hits += 1
            return fault
        return None


async def stall(fault: Fault | None) -> Fault | None:
    """Serve the waiting part of a fault; return the fault still to render, if any.

    `latency` only delays, so the call then proceeds normally (None is returned).
    """
    if fault is None:
        return None
    if fault.kind == "latency":
        await asyncio.sleep(fault.spec.latency_ms / 1000)
        return None
    if fault.kind == "timeout":
        await asyncio.sleep(fault.spec.hold_seconds)
    return fault
