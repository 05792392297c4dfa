"""What each chaos scenario breaks, and how big a run is (short in CI, long on demand).

A scenario is a fault and how many times it strikes during the burst; the strikes are spread
evenly over the burst (at 1/(n+1), 2/(n+1), ... of the updates written), so each one lands
while updates are arriving, being processed and being answered.

    EASYFLOW_CHAOS_SCALE=short   (default) ~160 updates per scenario, each fault once or twice
    EASYFLOW_CHAOS_SCALE=long    3,000 updates per scenario, each fault many times, the hub on
                                 its production recovery settings
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chaos.stack import ChaosStack, HubTuning

SCALE_ENV = "EASYFLOW_CHAOS_SCALE"
RESTART_PAUSE = 1.0  # seconds a killed process stays down before it is started again


@dataclass(frozen=True)
class Scale:
    name: str
    updates: int
    chats: int
    writes_per_second: float
    strikes: int  # how often each fault strikes (multiplied per scenario below)
    settle_seconds: float  # a generous bound on recovery; never a pass/fail timing
    tuning: HubTuning


SHORT = Scale(
    "short",
    updates=160,
    chats=40,
    writes_per_second=25.0,
    strikes=1,
    settle_seconds=240.0,
    # Quick sweeps and short locks keep a CI run to minutes; the long form uses the defaults.
    tuning=HubTuning(
        recovery_interval_seconds=2.0, stuck_after_seconds=10.0, lock_ttl_seconds=30.0
    ),
)
LONG = Scale(
    "long",
    updates=3000,
    chats=300,
    writes_per_second=25.0,
    strikes=5,
    settle_seconds=900.0,
    tuning=HubTuning(
        recovery_interval_seconds=30.0, stuck_after_seconds=60.0, lock_ttl_seconds=120.0
    ),
)
SCALES = {s.name: s for s in (SHORT, LONG)}


def scale_from_env() -> Scale:
    name = os.environ.get(SCALE_ENV, "short")
    if name not in SCALES:
        raise ValueError(f"{SCALE_ENV}={name!r}: expected one of {sorted(SCALES)}")
    return SCALES[name]


Fault = Callable[[ChaosStack, int], Awaitable[str]]


@dataclass(frozen=True)
class Scenario:
    name: str
    fault: Fault  # strike number n -> what was done, in words
    strikes_per_scale: int  # multiplied by Scale.strikes

    def marks(self, scale: Scale) -> list[int]:
        """The update numbers at which the fault strikes."""
        count = self.strikes_per_scale * scale.strikes
        return [scale.updates * (k + 1) // (count + 1) for k in range(count)]


async def nothing(stack: ChaosStack, strike: int) -> str:
    return "nothing (the reference run)"


async def kill_worker(stack: ChaosStack, strike: int) -> str:
    worker = stack.workers[strike % len(stack.workers)]
    pid = worker.pid
    await stack.kill_and_restart(worker, RESTART_PAUSE)
    return f"kill -9 {worker.name} (pid {pid}), restarted"


async def kill_api(stack: ChaosStack, strike: int) -> str:
    pid = stack.api.pid
    await stack.kill_and_restart(stack.api, RESTART_PAUSE)
    return f"kill -9 api (pid {pid}), restarted"


async def drop_db_connections(stack: ChaosStack, strike: int) -> str:
    killed = await stack.terminate_db_connections()
    await asyncio.sleep(0)
    return f"pg_terminate_backend x{killed}"


async def restart_redis(stack: ChaosStack, strike: int) -> str:
    await stack.kill_and_restart(stack.redis, RESTART_PAUSE)
    return "redis killed and restarted empty"


SCENARIOS = [
    # The same burst with no fault: proves the counting and gives the delays to compare with.
    Scenario("no-fault", nothing, strikes_per_scale=0),
    Scenario("worker-kill", kill_worker, strikes_per_scale=2),
    Scenario("api-kill", kill_api, strikes_per_scale=1),
    Scenario("db-connections-dropped", drop_db_connections, strikes_per_scale=3),
    Scenario("redis-restart", restart_redis, strikes_per_scale=1),
]
