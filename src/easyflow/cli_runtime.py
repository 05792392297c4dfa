"""What every `easyflow` command shares: the console, the tenant option, and `run`.

`run` gives a command's work a started container and turns what an operator must fix (a
domain error, an unreachable or un-migrated database) into one line on the console instead
of a traceback. The command modules (cli.py and its cli_* siblings) import it from here, so
none of them imports another to reach it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from easyflow.config import Settings
from easyflow.domain.errors import EasyFlowError
from easyflow.observability.logging import configure_logging

if TYPE_CHECKING:
    from easyflow.bootstrap import Container

console = Console()
T = TypeVar("T")
TenantOpt = Annotated[int, typer.Option("--tenant", "-t", help="Tenant id")]


def run(work: Callable[[Container], Awaitable[T]], *, check_secret_keys: bool = True) -> T:
    """Run `work(container)` with a started container; domain errors end the command cleanly."""
    settings = Settings()
    configure_logging(settings.log_level, json=False)
    return clean(with_container(settings, work, check_secret_keys))


async def with_container(
    settings: Settings,
    work: Callable[[Container], Awaitable[T]],
    check_secret_keys: bool = True,
) -> T:
    # Imported here: building the container pulls in every layer, which `--help` never needs.
    from easyflow.bootstrap import build_container

    container = build_container(settings)
    try:
        await container.start(check_secret_keys=check_secret_keys)
        return await work(container)
    finally:
        await container.aclose()


def clean(main: Coroutine[Any, Any, T]) -> T:
    """Run `main`; what an operator must fix is one line on the console, not a traceback."""
    try:
        return asyncio.run(main)
    except (EasyFlowError, RuntimeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except (SQLAlchemyError, OSError) as exc:
        # An unreachable or un-migrated database: say which, without a traceback.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        console.print(f"[red]database error:[/red] {reason} (is it up? run `easyflow db upgrade`)")
        raise typer.Exit(1) from None
