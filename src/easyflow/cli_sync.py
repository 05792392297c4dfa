"""`easyflow sync …` and `easyflow scheduler` (connecting Wildberries or Ozon is the generated
`easyflow integrations add wildberries|ozon`, cli_connect.py).

Attached to the main command by `register()` (cli.py), so the sync commands live in one place.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from easyflow.cli_runtime import TenantOpt, console, run
from easyflow.domain.sync import SyncRun, SyncType

sync_app = typer.Typer(
    help="Marketplace syncs: run one now, see every stream.", no_args_is_help=True
)


@sync_app.command("run")
def sync_run(
    integration: int,
    stream: str,
    tenant: TenantOpt,
    full: Annotated[bool, typer.Option("--full", help="Read the whole window again")] = False,
) -> None:
    """Run one sync in this process, with a progress bar, and print its record."""

    async def work(c: Any) -> SyncRun | None:
        kind = SyncType.FULL if full else SyncType.INCREMENTAL
        run = await c.sync.start(tenant, integration, stream, kind)
        if run is None:
            console.print(f"[yellow]a {stream} sync of integration {integration} is running")
            return None
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(f"{stream}: starting", total=None)

            def show(r: SyncRun) -> None:
                text = f"{stream}: {r.pages} pages, {r.records} records, {r.errors} errors"
                progress.update(task, description=text)

            done: SyncRun | None = await c.sync.run_to_end(run.id, show)
            if done is not None:
                show(done)
        return done

    done = run(work)
    if done is not None:
        colour = "green" if done.status.value == "succeeded" else "red"
        console.print(
            f"[{colour}]run {done.id} {done.status.value}[/{colour}]: {done.pages} pages, "
            f"{done.records} records, {done.errors} record errors"
            + (f" — {done.error}" if done.error else "")
        )
        if done.status.value != "succeeded":
            raise typer.Exit(1)


@sync_app.command("status")
def sync_status(tenant: TenantOpt) -> None:
    """The last run of every stream, and how far behind it is."""

    async def work(c: Any) -> list[SyncRun]:
        async with c.uow() as uow:
            runs: list[SyncRun] = await uow.sync.last_runs(tenant)
            return runs

    table = Table(
        "integration", "stream", "type", "status", "started", "pages", "records", "errors", "lag"
    )
    now = datetime.now(UTC)
    for r in run(work):
        lag = "-" if r.status.value != "succeeded" else f"{(now - r.until).total_seconds():.0f}s"
        table.add_row(
            str(r.integration_id),
            r.stream,
            r.sync_type.value,
            r.status.value,
            r.started_at.isoformat(timespec="seconds"),
            str(r.pages),
            str(r.records),
            str(r.errors),
            lag,
        )
    console.print(table)


def scheduler(
    interval: Annotated[float, typer.Option(help="Seconds between ticks")] = 30.0,
) -> None:
    """Start syncs on schedule (production; `serve` does it itself on the embedded default)."""

    async def work(c: Any) -> None:
        await c.scheduler.run_forever(interval)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        run(work)


def register(app: typer.Typer) -> None:
    app.add_typer(sync_app, name="sync")
    app.command("scheduler")(scheduler)
