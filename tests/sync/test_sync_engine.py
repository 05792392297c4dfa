"""The sync engine against the emulators: exact sets, resumption, look-back, exclusivity."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from easyflow.domain.sync import RunStatus, SyncType
from easyflow.platforms.wildberries import adapter as wb_adapter
from easyflow.platforms.wildberries import facts as wb_facts
from easyflow.services.sync import GROUP_RECORDS
from easyflow.services.sync_schedule import SyncScheduler
from easyflow.state.locks import InMemoryLocks

from .market import Market

PLATFORMS = ["wildberries", "ozon"]
ORDERS_PATH = {
    "wildberries": "/statistics-api/api/v1/supplier/orders",
    "ozon": "/v4/posting/fbs/list",
}


def small_pages(market: Market, pages_per_step: int | None = None, **settings: float) -> None:
    market.emulator("wildberries").config.statistics_page_cap = 40
    engine = market.container.sync
    changes: dict[str, float] = dict(settings)
    if pages_per_step is not None:
        changes["pages_per_step"] = pages_per_step
    engine.settings = dataclasses.replace(engine.settings, **changes)


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_full_sync_brings_in_exactly_the_orders_and_records_the_run(
    market: Market, platform: str
) -> None:
    small_pages(market)
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


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_sync_failing_after_page_k_resumes_from_its_checkpoint(
    market: Market, platform: str
) -> None:
    small_pages(market, pages_per_step=1)
    await market.seed(platform, 230)
    engine = market.container.sync
    run = await engine.start(market.tenant_id, market.ids[platform], "orders", SyncType.FULL)
    assert run is not None
    first = await engine.step(run.id)
    second = await engine.step(run.id, first.ticket)
    assert second.more
    await market.fault(platform=platform, kind="http_error", status=503, path=ORDERS_PATH[platform])
    failed = (await engine.step(run.id, second.ticket)).run
    assert failed is not None and failed.status is RunStatus.FAILED and failed.pages == 2
    committed = await market.order_ids(platform)
    assert 0 < len(committed) == failed.records < 230

    await market.control.delete("/_sandbox/faults")
    resumed = await engine.start(market.tenant_id, market.ids[platform], "orders", SyncType.FULL)
    assert resumed is not None and resumed.page_cursor == failed.page_cursor
    done = await engine.run_to_end(resumed.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED
    ids = await market.order_ids(platform)
    assert len(ids) == len(set(ids)) == 230
    assert failed.records + done.records == 230  # no page read twice, none skipped


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_429_storms_and_5xx_end_with_the_exact_set(market: Market, platform: str) -> None:
    small_pages(market)
    await market.seed(platform, 230)
    path = ORDERS_PATH[platform]
    await market.fault(platform=platform, kind="rate_limit", count=4, retry_after=0.01, path=path)
    await market.fault(platform=platform, kind="http_error", status=502, count=3, path=path)
    run = await market.sync(platform, sync_type=SyncType.FULL)
    assert run.status is RunStatus.SUCCEEDED
    ids = await market.order_ids(platform)
    assert len(ids) == len(set(ids)) == 230
    stats = market.emulator(platform).stats
    assert stats["fault_rate_limit"] > 0 and stats["fault_http_error"] > 0


async def test_a_throttled_sync_spaces_its_calls_to_the_limit(market: Market) -> None:
    """1 request a minute on statistics (scaled): the pages arrive no faster than that.
    (That no 429 comes back at real periods is measured by bench/sync.py.)"""
    small_pages(market)
    await market.seed("wildberries", 200)
    run = await market.sync("wildberries", sync_type=SyncType.FULL)
    assert run.status is RunStatus.SUCCEEDED and run.pages >= 5
    assert run.finished_at is not None
    spacing = 60.0 * 1 / 1000
    assert (run.finished_at - run.started_at).total_seconds() >= (run.pages - 1) * spacing
    assert len(await market.order_ids("wildberries")) == 200


async def test_two_starts_of_one_stream_make_one_run(market: Market) -> None:
    start = market.container.sync.start
    runs = await asyncio.gather(
        start(market.tenant_id, market.ids["ozon"], "orders"),
        start(market.tenant_id, market.ids["ozon"], "orders"),
    )
    assert sum(r is not None for r in runs) == 1


async def test_a_repeated_step_task_is_a_no_op(market: Market) -> None:
    small_pages(market, pages_per_step=1)
    await market.seed("ozon", 300)
    engine = market.container.sync
    run = await engine.start(market.tenant_id, market.ids["ozon"], "orders", SyncType.FULL)
    assert run is not None
    results = await asyncio.gather(engine.step(run.id, 0), engine.step(run.id, 0))
    assert sorted(r.ran for r in results) == [False, True]
    again = await engine.step(run.id, 0)  # the broker redelivers the first task later
    assert not again.ran


async def test_two_schedulers_start_each_due_run_once(market: Market) -> None:
    c = market.container
    await market.seed("wildberries", 50)
    await market.seed("ozon", 50)
    schedulers = [
        SyncScheduler(c.uow, c.sync, c.sync_tasks, InMemoryLocks(), c.adapters) for _ in range(2)
    ]
    started = await asyncio.gather(*(s.tick() for s in schedulers))
    runs = [r for batch in started for r in batch]
    assert sorted((r.integration_id, r.stream) for r in runs) == sorted(
        (i, s) for i in market.ids.values() for s in ("orders", "products", "stocks")
    )
    await c.queue.wait_idle()
    assert await c.scheduler.tick() == []  # the same slots: nothing is due
    rows = await market.rows("SELECT status, count(*) FROM sync_runs GROUP BY status")
    assert dict((s, n) for s, n in rows) == {"succeeded": 6}
    assert len(await market.order_ids("ozon")) == 50


async def test_a_worker_killed_mid_run_is_resumed_from_its_checkpoint(market: Market) -> None:
    small_pages(market, pages_per_step=1)
    await market.seed("wildberries", 230)
    c = market.container
    run = await c.sync.start(market.tenant_id, market.ids["wildberries"], "orders", SyncType.FULL)
    assert run is not None
    first = await c.sync.step(run.id)
    assert first.more
    # A worker claims the next step and dies: its lease lapses, nobody releases it.
    async with c.uow() as uow:
        now = datetime.now(UTC)
        assert await uow.sync.claim(run.id, "dead-worker", now + timedelta(seconds=0.05), now)
        await uow.commit()
    assert not (await c.sync.step(run.id)).ran  # held: a second worker keeps off
    await asyncio.sleep(0.1)
    await c.scheduler.tick()
    await c.queue.wait_idle()
    async with c.uow() as uow:
        done = await uow.sync.get_run(run.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED
    ids = await market.order_ids("wildberries")
    assert len(ids) == len(set(ids)) == 230 == done.records


async def test_the_look_back_picks_up_an_order_edited_after_the_cursor_passed_it(
    market: Market,
) -> None:
    await market.seed("wildberries", 60, spread=10 * 3600)  # created over the last 10 hours
    await market.sync("wildberries", sync_type=SyncType.FULL)
    book = market.emulator("wildberries").orders
    late, old = [i for i in range(20) if book.stage(i) != -1][:2]  # created 7+ hours ago
    srid_late = await market.change("wildberries", late, status="cancelled", seconds_ago=600)
    srid_old = await market.change("wildberries", old, status="cancelled", seconds_ago=5 * 3600)

    async def status(srid: str) -> str:
        [(value,)] = await market.rows("SELECT status FROM orders WHERE external_id = :e", e=srid)
        return str(value)

    await market.sync("wildberries")
    assert await status(srid_late["srid"]) == "cancelled"  # inside the 2 h look-back
    assert await status(srid_old["srid"]) != "cancelled"  # older than it: a full run's job
    await market.sync("wildberries", sync_type=SyncType.FULL)
    assert await status(srid_old["srid"]) == "cancelled"
    assert len(await market.order_ids("wildberries")) == 60


async def test_an_unmappable_order_is_recorded_and_the_run_goes_on(market: Market) -> None:
    await market.seed("ozon", 30)
    await market.change("ozon", 5, status="unknown")
    run = await market.sync("ozon", sync_type=SyncType.FULL)
    assert run.status is RunStatus.SUCCEEDED and run.errors == 1 and run.records == 29
    async with market.container.uow() as uow:
        [failure] = await uow.sync.failures(run.id)
    assert failure.external_id == market.emulator("ozon").posting_number(5)
    assert "awaiting_verification" in failure.reason


async def test_products_the_platform_removed_are_marked_not_lost(market: Market) -> None:
    for platform in PLATFORMS:
        run = await market.sync(platform, "products")
        assert run.status is RunStatus.SUCCEEDED and run.records == 100
        r = await market.control.delete(f"/_sandbox/{platform}/products/3")
        assert r.status_code == 200
        await market.sync(platform, "products")
    rows = await market.rows(
        "SELECT source, count(*), count(deleted_at), sum(CASE WHEN archived THEN 1 ELSE 0 END) "
        "FROM products GROUP BY source ORDER BY source"
    )
    # WB moves a removed card to the trash (no longer listed): marked deleted, kept.
    # Ozon lists an archived product with its flag.
    assert [tuple(r) for r in rows] == [("ozon", 100, 0, 1), ("wildberries", 100, 1, 0)]


async def test_health_reflects_the_last_sync_runs_without_calling_the_marketplace(
    market: Market,
) -> None:
    health = market.container.health
    health._ttl = 0.0  # every probe recomputes: the figure below is not a cached one
    await market.seed("ozon", 20)
    assert (await market.sync("ozon")).status is RunStatus.SUCCEEDED
    assert (await health.report())["integrations"]["ozon"]["status"] == "healthy"

    await market.fault(platform="ozon", kind="http_error", status=503, path=ORDERS_PATH["ozon"])
    assert (await market.sync("ozon")).status is RunStatus.FAILED
    await market.control.delete("/_sandbox/faults")  # Ozon answers again; no run has said so

    report = await health.report()
    assert report["integrations"]["ozon"]["status"] == "unhealthy"  # the run, not a probe
    assert report["status"] == "degraded"
    tenant = await health.tenant_report(market.tenant_id)
    [ozon] = [i for i in tenant["integrations"] if i["platform"] == "ozon"]
    assert "last sync failed (orders:" in ozon["error"]

    assert (await market.sync("ozon")).status is RunStatus.SUCCEEDED
    assert (await health.report())["integrations"]["ozon"]["status"] == "healthy"


async def test_a_statistics_page_written_in_parts_repeats_no_boundary_row(
    market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wildberries pages parsed as a stream and written three rows at a time: the rows at a
    page's last `lastChangeDate` come again at the head of the next page, and neither the
    orders nor the run's count hold them twice."""
    monkeypatch.setattr(wb_facts, "STATS_PART_ROWS", 3)
    small_pages(market, pages_per_step=2)
    await market.seed("wildberries", 230, spread=30)  # ~8 orders a second: shared seconds
    run = await market.sync("wildberries", sync_type=SyncType.FULL)
    assert run.status is RunStatus.SUCCEEDED and run.pages >= 230 // 40
    ids = await market.order_ids("wildberries")
    assert len(ids) == len(set(ids)) == 230
    assert run.records == 230 and run.errors == 0
    served = market.emulator("wildberries").stats
    assert served["statistics_rows"] > 230  # the boundary rows did repeat on the wire


async def test_an_unparsable_statistics_page_fails_the_run_at_its_checkpoint(
    market: Market,
) -> None:
    """A page cut short fails its run (nothing of it is taken for the end of the stream),
    keeping the checkpoint before it; the next start resumes there."""
    small_pages(market, pages_per_step=1)
    await market.seed("wildberries", 100)
    engine = market.container.sync
    integration = market.ids["wildberries"]
    run = await engine.start(market.tenant_id, integration, "orders", SyncType.FULL)
    assert run is not None
    first = await engine.step(run.id)
    assert first.more and first.run is not None
    path = ORDERS_PATH["wildberries"]
    await market.fault(platform="wildberries", kind="malformed", count=1, path=path)
    failed = (await engine.step(run.id, first.ticket)).run
    assert failed is not None and failed.status is RunStatus.FAILED
    assert failed.page_cursor == first.run.page_cursor and failed.pages == 1
    again = await engine.start(market.tenant_id, integration, "orders", SyncType.FULL)
    assert again is not None
    done = await engine.run_to_end(again.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED
    ids = await market.order_ids("wildberries")
    assert len(ids) == len(set(ids)) == 100


@pytest.mark.parametrize("count", [0, 1, 100, 101, 199, 200, 201, 555])
async def test_a_run_read_from_both_ends_takes_each_order_once(market: Market, count: int) -> None:
    """Ozon orders are read from the oldest and the newest end at once; wherever the two
    meet (inside a page, at a page's edge, or not at all for a single page), every order
    is taken once and an unmappable one is recorded once."""
    if count:
        await market.seed("ozon", count)
    if count > 150:
        await market.change("ozon", 150, status="unknown")  # near where the ends meet
    run = await market.sync("ozon", sync_type=SyncType.FULL)
    errors = 1 if count > 150 else 0
    assert run.status is RunStatus.SUCCEEDED
    assert run.records == count - errors and run.errors == errors
    ids = await market.order_ids("ozon")
    assert len(ids) == len(set(ids)) == count - errors
    if count > 200:  # more than two pages: both ends took pages
        ends = (run.page_cursor or {})["ends"]
        assert ends["oldest"]["ids"] and ends["newest"]["ids"]


async def test_a_run_read_from_both_ends_resumes_both_from_the_checkpoint(
    market: Market,
) -> None:
    """One end's read fails for good after some pages: the run fails keeping both ends'
    cursors as committed; resumed, it ends with exactly the full set, no order counted twice,
    and neither end re-reads what was committed (the checkpoint never passed a page not
    written)."""
    small_pages(market, pages_per_step=3)
    await market.seed("ozon", 1234)
    engine = market.container.sync
    run = await engine.start(market.tenant_id, market.ids["ozon"], "orders", SyncType.FULL)
    assert run is not None
    result = await engine.step(run.id)
    for _ in range(3):
        result = await engine.step(run.id, result.ticket)
    assert result.more
    await market.fault(platform="ozon", kind="http_error", status=503, path=ORDERS_PATH["ozon"])
    failed = (await engine.step(run.id, result.ticket)).run
    assert failed is not None and failed.status is RunStatus.FAILED
    ends = (failed.page_cursor or {})["ends"]
    assert ends["oldest"]["cursor"] is not None and ends["newest"]["cursor"] is not None
    committed = await market.order_ids("ozon")
    assert len(committed) == failed.records == 100 * failed.pages  # pages of 100, all written

    await market.control.delete("/_sandbox/faults")
    resumed = await engine.start(market.tenant_id, market.ids["ozon"], "orders", SyncType.FULL)
    assert resumed is not None and resumed.page_cursor == failed.page_cursor
    done = await engine.run_to_end(resumed.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED
    ids = await market.order_ids("ozon")
    assert len(ids) == len(set(ids)) == 1234
    assert failed.records + done.records == 1234  # nothing read twice, nothing skipped


async def test_a_worker_losing_the_run_while_a_group_is_written_commits_nothing_more(
    market: Market,
) -> None:
    """Read from both ends, full groups are written in the background while pages come in.
    A worker whose run is taken over (it was too slow) stops: the group being written then
    is refused by the lease check, nothing after it is written, and the run, picked up again,
    ends with exactly the full set."""
    small_pages(market, pages_per_step=1000)
    await market.seed("ozon", 3456)
    c = market.container
    engine = c.sync
    run = await engine.start(market.tenant_id, market.ids["ozon"], "orders", SyncType.FULL)
    assert run is not None
    written = 0
    commit_group = engine._commit_group

    async def taken_over_after_the_first_group(*args: Any, **kwargs: Any) -> None:
        nonlocal written
        await commit_group(*args, **kwargs)
        written += 1
        if written == 1:  # another worker takes the run over, then dies
            async with c.uow() as uow:
                later = datetime.now(UTC) + timedelta(hours=1)
                lease = datetime.now(UTC) + timedelta(seconds=0.2)
                assert await uow.sync.claim(run.id, "another-worker", lease, later)
                await uow.commit()

    engine._commit_group = taken_over_after_the_first_group  # type: ignore[method-assign]
    assert not (await engine.step(run.id)).ran
    async with c.uow() as uow:
        stopped = await uow.sync.get_run(run.id)
    group = -(-GROUP_RECORDS // 100) * 100  # whole pages of 100
    assert stopped is not None and stopped.records == group == stopped.pages * 100
    assert len(await market.order_ids("ozon")) == group

    del engine._commit_group
    await asyncio.sleep(0.3)  # the other worker's lease lapses
    done = await engine.run_to_end(run.id)
    assert done is not None and done.status is RunStatus.SUCCEEDED
    ids = await market.order_ids("ozon")
    assert len(ids) == len(set(ids)) == 3456 == done.records


async def test_a_statistics_page_cut_mid_body_is_read_again_and_ends_with_the_exact_set(
    live_market: Market, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statistics page is written part by part as it arrives. When its connection is lost
    mid-body every time, the run fails at the checkpoint before that page (the parts that
    came before the cut are written, not counted); when it is lost now and then, the page is
    read again from its start: the run succeeds with every order once, counted once."""
    market = live_market
    monkeypatch.setattr(wb_facts, "STATS_PART_ROWS", 5)
    monkeypatch.setattr(wb_adapter, "SLICE_BYTES", 1_000)  # a slice of about two rows
    small_pages(market, pages_per_step=2)
    emulator = market.emulator("wildberries")
    emulator.config.statistics_chunk_rows = 20
    await market.seed("wildberries", 230)
    path = ORDERS_PATH["wildberries"]
    cut = {"platform": "wildberries", "kind": "http_error", "code": "mid_stream", "path": path}
    await market.fault(**cut)  # every page breaks off after its first 20 rows
    failed = await market.sync("wildberries", sync_type=SyncType.FULL)
    assert failed.status is RunStatus.FAILED and "body cut short" in (failed.error or "")
    assert failed.records == failed.pages == 0 and failed.page_cursor is None
    assert emulator.stats["fault_mid_stream"] == 3  # read three times (the retry policy)
    assert 0 < len(await market.order_ids("wildberries")) < 20

    await market.control.delete("/_sandbox/faults")
    await market.fault(**cut, count=2)
    run = await market.sync("wildberries", sync_type=SyncType.FULL)
    assert run.status is RunStatus.SUCCEEDED and run.records == 230
    ids = await market.order_ids("wildberries")
    assert len(ids) == len(set(ids)) == 230
    assert emulator.stats["fault_mid_stream"] == 3 + 2
