"""The sync engine against the emulators: exact sets, resumption, look-back, exclusivity."""

from __future__ import annotations

import pytest

from easyflow.domain.sync import RunStatus, SyncType

from .market import Market

PLATFORMS = ["wildberries", "ozon"]


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_full_sync_brings_in_exactly_the_orders_and_records_the_run(
    market: Market, platform: str
) -> None:
    market.emulator("wildberries").config.statistics_page_cap = 40
    await market.seed(platform, 230)
    run = await market.sync(platform, sync_type=SyncType.FULL)
    ids = await market.order_ids(platform)
    assert len(ids) == len(set(ids)) == 230
    assert run.status is RunStatus.SUCCEEDED and run.records == 230 and run.errors == 0
    assert run.pages >= 3 and run.finished_at is not None
    [(status, last_sync)] = await market.rows(
        "SELECT sync_status, last_sync_at FROM integrations WHERE id = :i", i=market.ids[platform]
    )
    assert status == "succeeded" and last_sync is not None
    again = await market.sync(platform)  # incremental: the look-back only, nothing new
    assert again.status is RunStatus.SUCCEEDED
    assert len(await market.order_ids(platform)) == 230
