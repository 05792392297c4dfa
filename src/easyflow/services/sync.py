"""The sync engine: streams an adapter declares, read page by page into the database.

    run = await engine.start(tenant_id, integration_id, "orders")   # records the run
    while (await engine.step(run.id)).more: ...                      # or the job layer

A run's window is fixed when it starts: incremental runs read from the stream's watermark
minus its look-back (marketplace orders change status for days; re-reading is harmless as
upserts are keyed), full runs the whole window the platform keeps. Every page is upserted in
bulk and the run's page cursor saved **in the same transaction**, so the checkpoint never
passes uncommitted data; the watermark moves to the run's end only when the run succeeds.

A run is cut into steps of at most `pages_per_step` pages or `step_seconds`: a step claims the
run's lease (and its ticket: the number of steps so far), so a broker redelivering a step's
task, or a second worker, finds the ticket used and does nothing; a worker killed mid-step
leaves a lease that lapses, and the recovery sweep hands the run out again from its
checkpoint. A run failing after its retries keeps its checkpoint; the next start resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from easyflow.domain.commerce import (
    Order,
    OrderStatusChanged,
    Product,
    StockChange,
    StockLevel,
    StockReport,
)
from easyflow.domain.errors import (
    ConfigurationError,
    InvalidRequestError,
    RejectedError,
    is_transient,
)
from easyflow.domain.sync import (
    CursorKind,
    Page,
    Parts,
    RecordFailure,
    RunStatus,
    SyncRun,
    SyncStream,
    SyncType,
    SyncWindow,
)
from easyflow.domain.tenancy import Capability, Integration
from easyflow.observability.metrics import Metrics
from easyflow.ports import (
    Marketplace,
    MarketplaceAdapters,
    SyncUnitOfWork,
    SyncUnitOfWorkFactory,
)
from easyflow.services.retries import RetrySchedule, describe

log = structlog.get_logger("easyflow.sync")


class ChangeHook(Protocol):
    """Told the status changes of a page inside its transaction (transactional outbox: a
    notification exists exactly when the change does), and kicked after the commit."""

    async def stage(
        self, uow: SyncUnitOfWork, integration: Integration, changes: Sequence[OrderStatusChanged]
    ) -> list[int]: ...

    async def kick(self, ids: Sequence[int]) -> None: ...


Progress = Callable[[SyncRun], None]


@dataclass(frozen=True, slots=True)
class SyncSettings:
    pages_per_step: int = 50
    step_seconds: float = 20.0  # well inside the broker's redelivery timeout
    lease_seconds: float = 60.0
    retry: RetrySchedule = field(
        default_factory=lambda: RetrySchedule(base_seconds=2.0, cap_seconds=60.0, max_attempts=3)
    )


@dataclass(frozen=True, slots=True)
class StepResult:
    run: SyncRun | None
    more: bool  # another step is due (the caller enqueues it)
    ran: bool  # False: someone else holds the run, or the run is over

    @property
    def ticket(self) -> int:
        return self.run.attempts if self.run else 0


READ_AHEAD_MAX_RECORDS = 5_000
# Small pages are written this many records to a transaction, read from one end or both.
# A transaction has a fixed cost (BEGIN, the checkpoint update, COMMIT, the hops to the
# driver's thread): at 300 records a group, Ozon's sync into SQLite spent 0.4 s more of its
# event loop per 100 000 orders (bench/sync, 2026-12-02). A group's rows are built on the
# event loop, but that no longer delays a rate-limited run's requests: throttled, 300 and
# 1 000 both gave 1.031-1.035x the minimum, side by side.
GROUP_RECORDS = 1_000


# While a step runs, the collector sweeps young objects after this many net allocations
# instead of CPython's 700. A step holds thousands of parsed records, mapped records and rows
# at once, all alive until their group is written; at 700 they lived long enough to reach the
# oldest generation and set off full collections over the whole process (an Ozon sync of
# 100 000 orders: 10 of them, ~1.2 s of its event loop's ~5.8 s). At 10 000, none.
STEP_YOUNG_COLLECTION_THRESHOLD = 10_000


class CollectorPace:
    """The collector's young threshold raised while any step runs in this process, and put
    back as the last one ends. Process-wide by nature, hence counted, and scoped to steps so
    that nothing else in the process runs with it once the sync is done."""

    def __init__(self, young: int) -> None:
        self._young = young
        self._steps = 0
        self._saved: tuple[int, int, int] | None = None

    @contextlib.contextmanager
    def during_step(self) -> Iterator[None]:
        if self._steps == 0:
            saved = gc.get_threshold()
            if saved[0] < self._young:  # never lower a threshold someone raised further
                self._saved = saved
                gc.set_threshold(self._young, saved[1], saved[2])
        self._steps += 1
        try:
            yield
        finally:
            self._steps -= 1
            if self._steps == 0 and self._saved is not None:
                gc.set_threshold(*self._saved)
                self._saved = None


_collector_pace = CollectorPace(STEP_YOUNG_COLLECTION_THRESHOLD)


class PageUnreadable(Exception):
    """A page in parts could not be read to its end (its body is not the JSON it should be,
    or its connection kept being lost): the run fails with the cause, keeping its checkpoint
    before that page."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _CutShort(Exception):
    """A page in parts lost its connection (or timed out) mid-body: read it again."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _next_part(parts: Parts) -> Page | None:
    try:
        return await anext(parts, None)
    except Exception as exc:
        if is_transient(exc):
            raise _CutShort(exc) from exc
        raise PageUnreadable(exc) from exc


class LeaseLost(Exception):
    """Another worker took the run over (this one was too slow): stop, commit nothing."""


class SyncEngine:
    def __init__(
        self,
        uow: SyncUnitOfWorkFactory,
        adapters: MarketplaceAdapters,
        metrics: Metrics,
        settings: SyncSettings | None = None,
        on_changes: ChangeHook | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._uow = uow
        self._adapters = adapters
        self._metrics = metrics
        self.settings = settings or SyncSettings()
        self._on_changes = on_changes
        self._clock = clock
        self._owner = f"{uuid.uuid4().hex[:12]}"

    # -- starting

    async def streams(self, tenant_id: int, integration_id: int) -> tuple[SyncStream, ...]:
        integration = await self._integration(tenant_id, integration_id)
        return self._adapters.marketplace(integration).streams()

    async def start(
        self,
        tenant_id: int,
        integration_id: int,
        stream: str,
        sync_type: SyncType = SyncType.INCREMENTAL,
        *,
        since: datetime | None = None,
        slot: str | None = None,
    ) -> SyncRun | None:
        """Record a new run (or resume the stream's failed one); None if one is running."""
        integration = await self._integration(tenant_id, integration_id)
        declared = _declared(self._adapters.marketplace(integration), stream)
        now = self._clock()
        async with self._uow() as uow:
            last = await uow.sync.last_runs(tenant_id, integration_id)
            failed = next((r for r in last if r.stream == stream), None)
            if failed and _resumable(failed, declared, sync_type):
                window = SyncWindow(failed.since, failed.until)
                cursor: dict[str, Any] | None = failed.page_cursor
            else:
                watermark = await uow.sync.watermark(integration_id, stream)
                window = _window(declared, sync_type, watermark, since, now)
                cursor = None
            run = await uow.sync.start_run(
                tenant_id,
                integration_id,
                stream,
                sync_type,
                window,
                slot=slot,
                page_cursor=cursor,
            )
            await uow.commit()
        if run is not None:
            log.info(
                "sync run started",
                run=run.id,
                integration=integration_id,
                stream=stream,
                sync_type=sync_type.value,
                resumed=cursor is not None,
            )
        return run

    async def push_stocks(
        self, tenant_id: int, integration_id: int, changes: Sequence[StockChange]
    ) -> StockReport:
        """Set stock levels on the marketplace; the last change per (product, warehouse) wins
        (each is absolute), batched as the platform allows, refused items reported."""
        integration = await self._integration(tenant_id, integration_id)
        latest = {(c.product_id, c.warehouse_id): c for c in changes}
        return await self._adapters.marketplace(integration).update_stocks(list(latest.values()))

    async def reset(self, tenant_id: int, integration_id: int, stream: str) -> None:
        """Forget the stream's watermark and cancel its running run: the next run is full."""
        await self._integration(tenant_id, integration_id)
        async with self._uow() as uow:
            await uow.sync.reset(tenant_id, integration_id, stream)
            await uow.commit()

    # -- running

    async def step(self, run_id: int, ticket: int | None = None) -> StepResult:
        """Run up to one step of the run; a no-op when another worker holds it."""
        now = self._clock()
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        async with self._uow() as uow:
            claimed = await uow.sync.claim(run_id, self._owner, lease, now, ticket)
            run = await uow.sync.get_run(run_id)
            await uow.commit()
        if not claimed or run is None:
            return StepResult(run, more=False, ran=False)
        try:
            with _collector_pace.during_step():
                return await self._step(run)
        except LeaseLost:
            log.warning("sync run taken over by another worker", run=run_id)
            return StepResult(run, more=False, ran=False)

    async def run_to_end(self, run_id: int, progress: Progress | None = None) -> SyncRun | None:
        """Every step of the run in this process (CLI, tests, the embedded default)."""
        result = await self.step(run_id)
        while result.more:
            if progress and result.run:
                progress(result.run)
            result = await self.step(run_id, result.ticket)
        async with self._uow() as uow:
            return await uow.sync.get_run(run_id)

    async def _step(self, run: SyncRun) -> StepResult:
        integration = await self._integration(run.tenant_id, run.integration_id)
        marketplace = self._adapters.marketplace(integration)
        declared = _declared(marketplace, run.stream)
        window = SyncWindow(run.since, run.until)
        if declared.from_newest is not None and _Ends.owns(run.page_cursor):
            return await self._step_both_ends(run, integration, marketplace, declared, window)
        started, pages = time.monotonic(), 0
        reading: dict[str, Any] | None = None  # the cursor of the page last asked for

        def fetch(cursor: dict[str, Any] | None) -> asyncio.Task[Page]:
            nonlocal reading
            reading = cursor
            return asyncio.ensure_future(self._read(marketplace, declared, window, cursor))

        def read_again(cursor: dict[str, Any] | None) -> Callable[[], Awaitable[Page]]:
            return lambda: self._read(marketplace, declared, window, cursor)

        # The next page is read while this one commits (its cursor is known once it arrives):
        # a page's time is the slower of the two, not their sum. Small pages are written in
        # groups of up to GROUP_RECORDS records (Ozon: 100 postings a page), one transaction
        # and one checkpoint (the group's last cursor) per group: fewer statements and commits
        # per page. Nothing read ahead or buffered is committed before its turn, so the
        # checkpoint still never runs ahead of the data.
        group: list[Page] = []
        pending = fetch(run.page_cursor)
        try:
            while True:
                try:
                    page = await pending
                except Exception as exc:
                    await self._commit_group(run, integration, declared, group)
                    return await self._fail(run, integration, exc)
                pages += 1
                in_parts = page.parts is not None
                if page.parts is not None:
                    # A page in parts is huge: it is written (and checkpointed) before
                    # anything else is read, so two never sit in memory together.
                    await self._commit_group(run, integration, declared, group)
                    group = []
                    try:
                        page = await self._commit_parts(
                            run, integration, declared, page.parts, read_again(reading)
                        )
                    except PageUnreadable as exc:
                        return await self._fail(run, integration, exc.cause)
                last = (
                    page.next is None
                    or pages >= self.settings.pages_per_step
                    or time.monotonic() - started >= self.settings.step_seconds
                )
                # A huge page (Wildberries statistics: up to 80 000 rows) is not doubled in
                # memory by reading the next one beside it.
                read_ahead = (
                    not last and not in_parts and len(page.records) <= READ_AHEAD_MAX_RECORDS
                )
                if read_ahead:
                    pending = fetch(page.next)
                if not in_parts:
                    group.append(page)
                    held = sum(len(p.records) for p in group)
                    if last or not read_ahead or held >= GROUP_RECORDS:
                        await self._commit_group(run, integration, declared, group)
                        group = []
                if page.next is None:
                    return await self._succeed(run, integration, declared)
                if last:
                    break
                if not read_ahead:
                    cursor = page.next
                    del page  # not alive while the next huge page is parsed
                    pending = fetch(cursor)
        finally:
            if not pending.done():
                pending.cancel()
            with contextlib.suppress(BaseException):
                unread = await pending
                if unread.parts is not None:  # closed twice if written: frees its connection
                    await unread.parts.aclose()
        return await self._step_ended(run)

    async def _step_ended(self, run: SyncRun) -> StepResult:
        """The step's share is done and the run goes on: let go of it for the next step."""
        async with self._uow() as uow:
            await uow.sync.release(run.id, self._owner)
            current = await uow.sync.get_run(run.id)
            await uow.commit()
        return StepResult(current, more=True, ran=True)

    async def _step_both_ends(
        self,
        run: SyncRun,
        integration: Integration,
        marketplace: Marketplace,
        stream: SyncStream,
        window: SyncWindow,
    ) -> StepResult:
        """A step of a stream read from both ends at once (see `_Ends`): one request in
        flight per end, so the platform prepares a page while the hub maps and writes the
        other, and a slow answer does not hold up the next request of a rate-limited run.
        Pages are committed in the order they are taken, with the checkpoint of both ends
        as it stands after the last of them; the run is complete when the ends meet or one
        reaches the other's end of the window."""
        ends = _Ends.load(run.page_cursor, stream.from_newest or {})
        started, pages = time.monotonic(), 0
        pending: dict[str, asyncio.Task[Page]] = {}

        def fetch(end: str) -> None:
            read = self._read(marketplace, stream, window, ends.cursors[end])
            pending[end] = asyncio.ensure_future(read)

        # A full group is written by a task of its own while pages keep being taken: one
        # write at a time, in order (the next waits for the one before, so a checkpoint is
        # committed only after every page before it), and at most one group waiting.
        writing: asyncio.Task[None] | None = None

        async def written() -> None:
            nonlocal writing
            if writing is not None:
                task, writing = writing, None
                await task

        # A group's pages keep their own end's cursor; the checkpoint of both ends (it sorts
        # their last pages' ids) is put on the last page only when the group is written.
        group: list[Page] = []

        def sealed() -> list[Page]:
            if group:
                group[-1] = dataclasses.replace(group[-1], next=ends.checkpoint())
            return group

        taken = ""
        for end in _Ends.NAMES:
            fetch(end)
        try:
            while pending:
                arrived, _ = await asyncio.wait(
                    pending.values(), return_when=asyncio.FIRST_COMPLETED
                )
                # Both arrived: the end not taken last goes first, so neither waits long.
                ready = [e for e in _Ends.NAMES if e in pending and pending[e] in arrived]
                end = ready[-1] if len(ready) > 1 and taken == ready[0] else ready[0]
                taken = end
                task = pending.pop(end)
                try:
                    page = task.result()
                    if page.parts is not None:
                        await page.parts.aclose()
                        raise ValueError("a stream read from both ends cannot come in parts")
                except Exception as exc:
                    await written()
                    await self._commit_group(run, integration, stream, sealed())
                    return await self._fail(run, integration, exc)
                pages += 1
                kept, met = ends.take(end, page)
                complete = met or page.next is None
                group.append(kept)
                last = (
                    complete
                    or pages >= self.settings.pages_per_step
                    or time.monotonic() - started >= self.settings.step_seconds
                )
                if not last:
                    fetch(end)
                if last:
                    await written()
                    await self._commit_group(run, integration, stream, sealed())
                    group = []
                elif sum(len(p.records) for p in group) >= GROUP_RECORDS:
                    await written()
                    commit = self._commit_group(run, integration, stream, sealed())
                    writing = asyncio.ensure_future(commit)
                    group = []
                if complete:
                    return await self._succeed(run, integration, stream)
                if last:
                    break
        finally:
            if writing is not None:  # left by an error: its transaction rolls back
                writing.cancel()
                with contextlib.suppress(BaseException):
                    await writing
            for task in pending.values():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        return await self._step_ended(run)

    async def _read(
        self,
        marketplace: Marketplace,
        stream: SyncStream,
        window: SyncWindow,
        cursor: dict[str, Any] | None,
    ) -> Page:
        """One page; connection errors, timeouts and 5xx retried with backoff."""
        retry = self.settings.retry
        attempt = 0
        while True:
            try:
                return await marketplace.read_page(stream.name, window, cursor)
            except Exception as exc:
                attempt += 1
                if not is_transient(exc) or retry.exhausted(attempt):
                    raise
                wait = retry.delay(attempt, getattr(exc, "retry_after", None))
                log.info(
                    "sync page failed: retrying",
                    stream=stream.name,
                    attempt=attempt,
                    wait=round(wait, 2),
                    error=describe(exc),
                )
                await asyncio.sleep(wait)

    async def _commit_group(
        self, run: SyncRun, integration: Integration, stream: SyncStream, group: list[Page]
    ) -> None:
        """Write consecutive pages in one transaction, checkpointed at the last one's cursor."""
        if not group:
            return
        if len(group) == 1:
            await self._commit_page(run, integration, stream, group[0])
            return
        highs = [p.high_water for p in group if p.high_water is not None]
        merged = Page(
            tuple(r for p in group for r in p.records),
            group[-1].next,
            tuple(f for p in group for f in p.failures),
            max(highs) if highs else None,
        )
        await self._commit_page(run, integration, stream, merged, pages=len(group))

    async def _commit_parts(
        self,
        run: SyncRun,
        integration: Integration,
        stream: SyncStream,
        parts: Parts,
        read_again: Callable[[], Awaitable[Page]],
    ) -> Page:
        """Write a page that comes in parts: each part in its own transaction, the last one
        with the page's checkpoint, counts and record failures. A crash between parts leaves
        the checkpoint before the page, which is then read again: its rows are upserted by
        key, so the parts already written are written again, not doubled, and a status they
        already changed is not a change the second time (no second notification). A page
        whose connection is lost mid-body is read again the same way, here, with the
        engine's retry policy."""
        retry = self.settings.retry
        attempt = 0
        while True:
            try:
                async with contextlib.aclosing(parts):
                    return await self._write_parts(run, integration, stream, parts)
            except _CutShort as exc:
                attempt += 1
                if retry.exhausted(attempt):
                    raise PageUnreadable(exc.cause) from exc
                wait = retry.delay(attempt, None)
                log.info(
                    "sync page cut short: reading it again",
                    stream=stream.name,
                    attempt=attempt,
                    wait=round(wait, 2),
                    error=describe(exc.cause),
                )
                await asyncio.sleep(wait)
                try:
                    again = await read_again()
                except Exception as error:
                    raise PageUnreadable(error) from error
                if again.parts is None:
                    raise PageUnreadable(ValueError("a page read again came whole")) from exc
                parts = again.parts

    async def _write_parts(
        self,
        run: SyncRun,
        integration: Integration,
        stream: SyncStream,
        parts: Parts,
    ) -> Page:
        records, failures = 0, list[RecordFailure]()
        current = await _next_part(parts)
        if current is None:
            raise PageUnreadable(ValueError("a page in parts yielded no part"))
        while current is not None:
            # Read now: a part is known as the last once the next is not. (Parsing the next
            # part in a thread while this one is written was measured: no gain beyond the
            # noise, the mapping being Python under the GIL.)
            following = await _next_part(parts)
            records += len(current.records)
            failures += current.failures
            if following is None:
                whole = Page(current.records, current.next, tuple(failures), current.high_water)
                await self._commit_page(run, integration, stream, whole, counted=records)
                return Page((), current.next, tuple(failures), current.high_water)
            await self._commit_page(run, integration, stream, current, checkpoint=False)
            current = following
        raise AssertionError("unreachable: the last part returns")

    async def _commit_page(
        self,
        run: SyncRun,
        integration: Integration,
        stream: SyncStream,
        page: Page,
        *,
        checkpoint: bool = True,
        counted: int | None = None,
        pages: int = 1,
    ) -> None:
        """Upsert the page's records in one transaction with its checkpoint (`checkpoint`
        False: an early part of a page, committed without moving the cursor). `counted`: the
        count the checkpoint adds to the run (all parts of the page)."""
        lease = self._clock() + timedelta(seconds=self.settings.lease_seconds)
        staged: list[int] = []
        async with self._uow() as uow:
            if stream.record == "order":
                records = [r for r in page.records if isinstance(r, Order)]
                written = await uow.sync.upsert_orders(run.tenant_id, records)
                changes = _status_changes(run.tenant_id, records, written)
                if changes and self._on_changes is not None:
                    staged = await self._on_changes.stage(uow, integration, changes)
            elif stream.record == "stock":
                levels = [r for r in page.records if isinstance(r, StockLevel)]
                await uow.stocks.upsert_many(run.tenant_id, run.integration_id, levels, run.id)
            else:
                products = [r for r in page.records if isinstance(r, Product)]
                await uow.products.upsert_many(run.tenant_id, run.integration_id, products, run.id)
            if checkpoint:
                saved = await uow.sync.save_page(
                    run.id,
                    self._owner,
                    page.next,
                    len(page.records) if counted is None else counted,
                    page.failures,
                    page.high_water,
                    lease,
                    pages,
                )
                if not saved:
                    raise LeaseLost(run.id)
            await uow.commit()
        if staged and self._on_changes is not None:
            await self._on_changes.kick(staged)
        labels = (integration.platform, stream.name)
        self._metrics.sync_records.labels(*labels).inc(len(page.records))
        if checkpoint and page.failures:
            self._metrics.sync_record_errors.labels(*labels).inc(len(page.failures))

    async def _succeed(
        self, run: SyncRun, integration: Integration, stream: SyncStream
    ) -> StepResult:
        now = self._clock()
        async with self._uow() as uow:
            if stream.cursor is CursorKind.KEYSET:
                # A complete read: what it did not return, the platform no longer has.
                if stream.record == "stock":
                    await uow.stocks.drop_unseen(run.tenant_id, run.integration_id, run.id)
                else:
                    await uow.products.mark_unseen_deleted(
                        run.tenant_id, run.integration_id, run.id
                    )
            finished = await uow.sync.finish(run.id, RunStatus.SUCCEEDED, now)
            await uow.commit()
        if finished is not None:
            self._observe(finished, integration, ok=True)
            log.info(
                "sync run succeeded",
                run=run.id,
                stream=run.stream,
                pages=finished.pages,
                records=finished.records,
                errors=finished.errors,
            )
        return StepResult(finished, more=False, ran=True)

    async def _fail(self, run: SyncRun, integration: Integration, exc: Exception) -> StepResult:
        reason = describe(exc)
        async with self._uow() as uow:
            finished = await uow.sync.finish(run.id, RunStatus.FAILED, self._clock(), reason)
            await uow.commit()
        if finished is not None:
            self._observe(finished, integration, ok=False)
        log.warning(
            "sync run failed",
            run=run.id,
            stream=run.stream,
            error=reason,
            permanent=isinstance(exc, (ConfigurationError, RejectedError)),
        )
        return StepResult(finished, more=False, ran=True)

    def _observe(self, run: SyncRun, integration: Integration, *, ok: bool) -> None:
        counter = self._metrics.sync_success if ok else self._metrics.sync_failures
        counter.labels(integration.platform, run.sync_type.value).inc()
        if run.finished_at is not None:
            elapsed = (run.finished_at - run.started_at).total_seconds()
            self._metrics.sync_duration.labels(integration.platform, run.stream).observe(elapsed)
        if ok:
            lag = (self._clock() - run.until).total_seconds()
            self._metrics.sync_lag.labels(integration.platform, run.stream).set(max(0.0, lag))

    async def _integration(self, tenant_id: int, integration_id: int) -> Integration:
        async with self._uow() as uow:
            integration = await uow.integrations.get(tenant_id, integration_id)
        # Asked of the platform, not of how the integration was stored: a platform offering
        # several capabilities is listed under its primary one.
        if not self._adapters.offers(integration.platform, Capability.MARKETPLACE):
            raise InvalidRequestError(
                f"integration {integration_id} ({integration.platform}) is not a marketplace"
            )
        return integration


class _Ends:
    """Where a run read from both ends stands: each end's page cursor and the ids of the last
    page it took (saved as the run's checkpoint, `{"ends": {...}}`).

    The two ends walk one ordering of the run's window towards each other, the oldest end
    forwards and the newest backwards, in full pages. They have met when a page taken by
    one end holds an id of the other end's last page: as pages are full and contiguous, what
    that page shares with the other end is within the other end's last page, and it is
    dropped (it is committed already, or in this group). Everything between the ends is
    then read once. The window is fixed when the run starts, so the ordering holds still
    while the run reads it: a record changed meanwhile leaves the window (the next run's
    look-back reads it) rather than moving inside it.
    """

    NAMES = ("oldest", "newest")

    def __init__(self, cursors: dict[str, Any], last_ids: dict[str, frozenset[str]]) -> None:
        self.cursors = cursors
        self.last_ids = last_ids

    @staticmethod
    def owns(saved: dict[str, Any] | None) -> bool:
        """Whether a run's checkpoint is one of these (a run checkpointed by one reader, e.g.
        before an upgrade, is resumed by one reader)."""
        return not saved or "ends" in saved

    @classmethod
    def load(cls, saved: dict[str, Any] | None, from_newest: dict[str, Any]) -> _Ends:
        if saved and "ends" in saved:
            ends = saved["ends"]
            return cls(
                {e: ends[e]["cursor"] for e in cls.NAMES},
                {e: frozenset(ends[e]["ids"]) for e in cls.NAMES},
            )
        return cls(
            {"oldest": None, "newest": dict(from_newest)}, dict.fromkeys(cls.NAMES, frozenset())
        )

    def take(self, end: str, page: Page) -> tuple[Page, bool]:
        """`page` as `end` read it, without what the other end already took; whether the
        two ends met in it."""
        other = self.last_ids["newest" if end == "oldest" else "oldest"]
        ids = [str(r.external_id) for r in page.records] + [f.external_id for f in page.failures]
        met = not other.isdisjoint(ids)
        self.cursors[end] = page.next
        self.last_ids[end] = frozenset(ids)
        if not met:
            return page, False
        records = tuple(r for r in page.records if str(r.external_id) not in other)
        failures = tuple(f for f in page.failures if f.external_id not in other)
        return Page(records, page.next, failures, page.high_water), True

    def checkpoint(self) -> dict[str, Any]:
        return {
            "ends": {
                e: {"cursor": self.cursors[e], "ids": sorted(self.last_ids[e])} for e in self.NAMES
            }
        }


def _resumable(last: SyncRun, stream: SyncStream, sync_type: SyncType) -> bool:
    """Whether a new start continues `last` from its checkpoint instead of starting over.

    Only a failed run of a timestamp stream, of the same type, that got past its first page
    and did not fail on a request the platform refused (that page would fail again). A
    keyset read starts over: deletions are judged on one complete read.
    """
    return (
        last.status is RunStatus.FAILED
        and last.sync_type is sync_type
        and stream.cursor is CursorKind.TIMESTAMP
        and bool(last.page_cursor)
        and not (last.error or "").startswith(RejectedError.__name__)
    )


def _declared(marketplace: Marketplace, stream: str) -> SyncStream:
    for declared in marketplace.streams():
        if declared.name == stream:
            return declared
    names = ", ".join(s.name for s in marketplace.streams())
    raise InvalidRequestError(f"{marketplace.platform} has no stream {stream!r} (it has {names})")


def _window(
    stream: SyncStream,
    sync_type: SyncType,
    watermark: datetime | None,
    since: datetime | None,
    now: datetime,
) -> SyncWindow:
    if stream.cursor is CursorKind.KEYSET:
        return SyncWindow(None, now)
    oldest = now - stream.max_window
    if sync_type is SyncType.BACKFILL and since is not None:
        return SyncWindow(max(since, oldest), now)
    if sync_type is SyncType.INCREMENTAL and watermark is not None:
        return SyncWindow(max(watermark - stream.lookback, oldest), now)
    return SyncWindow(None, now)


def _status_changes(
    tenant_id: int, records: Sequence[Order], written: Sequence[tuple[str, str, Any]]
) -> list[OrderStatusChanged]:
    """Orders of the page whose stored status the page changed (new orders are not changes:
    a first sync must not announce every old order)."""
    before = {(source, eid): old for source, eid, old in written if old is not None}
    changes: dict[tuple[str, str], OrderStatusChanged] = {}
    for order in records:
        old = before.get((order.source, order.external_id))
        if old is None or old is order.status:
            continue
        changes[(order.source, order.external_id)] = OrderStatusChanged(
            tenant_id,
            order.source,
            order.external_id,
            order.number,
            old,
            order.status,
            order.customer_phone,
        )
    return list(changes.values())
