"""No acknowledged customer message is lost or answered twice when processes and services fail.

Each scenario runs the hub as real processes (sandbox, `easyflow serve`, `easyflow worker` x2,
a private Redis, a fresh PostgreSQL database), drives a burst of customer messages through
the Telegram sandbox and strikes one fault during it: kill -9 of a worker, kill -9 of the
API, pg_terminate_backend of the hub's connections, or a Redis restart that loses every
queued task. It then counts, per update and per chat, acknowledged vs stored vs replied.

The report (printed; shown with -s or on failure) gives the counts and the reply-delay
distribution; delays are reported, never asserted. Long form: `scripts/chaos --long`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.run import run_scenario
from chaos.scenarios import SCENARIOS, Scale, Scenario, scale_from_env

pytestmark = [pytest.mark.chaos, pytest.mark.postgresql]


@pytest.fixture(scope="session")
def chaos_scale() -> Scale:
    return scale_from_env()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_every_acknowledged_update_gets_exactly_one_reply(
    scenario: Scenario, chaos_scale: Scale, postgres_server: str, tmp_path: Path
) -> None:
    outcome = await run_scenario(scenario, chaos_scale, postgres_server, tmp_path)
    print(outcome.report)
    assert not outcome.problems, f"{outcome.report}\n\n{outcome.logs}"
    # Held for review is neither lost nor doubled, but only sends in flight at a crash may be.
    assert outcome.verdict.ok + len(outcome.verdict.unconfirmed) == outcome.verdict.acknowledged
