"""The `easyflow` command."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from easyflow.config import Settings
from easyflow.domain.errors import EasyFlowError
from easyflow.observability.logging import configure_logging

app = typer.Typer(help="Easy Flow: the integration hub for online sellers.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (sellers).", no_args_is_help=True)
keys_app = typer.Typer(help="Tenant API keys.", no_args_is_help=True)
integrations_app = typer.Typer(help="Connected platform accounts.", no_args_is_help=True)
add_app = typer.Typer(help="Connect a platform account.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(integrations_app, name="integrations")
integrations_app.add_typer(add_app, name="add")

console = Console()
T = TypeVar("T")
TenantOpt = Annotated[int, typer.Option("--tenant", "-t", help="Tenant id")]


def _run(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(container)` with a started container; domain errors end the command cleanly."""
    from easyflow.bootstrap import build_container

    settings = Settings()
    configure_logging(settings.log_level, json=False)

    async def main() -> T:
        container = build_container(settings)
        await container.start()
        try:
            return await work(container)
        finally:
            await container.aclose()

    try:
        return asyncio.run(main())
    except (EasyFlowError, RuntimeError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except (SQLAlchemyError, OSError) as exc:
        # An unreachable or un-migrated database: say which, without a traceback.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        console.print(f"[red]database error:[/red] {reason} (is it up? run `easyflow db upgrade`)")
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Serve the hub (API, webhooks, in-process jobs) on the configured database."""
    import uvicorn

    from easyflow.app import create_app

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port)


@app.command()
def worker() -> None:
    """Run a job worker on the Redis broker (EASYFLOW_BROKER_URL=redis://...)."""
    from easyflow.worker import run_worker

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.broker_url.startswith("memory"):
        console.print("[red]error:[/red] a worker needs EASYFLOW_BROKER_URL=redis://...")
        raise typer.Exit(2)
    asyncio.run(run_worker(settings))


@app.command()
def sandbox(port: Annotated[int, typer.Option(help="Port")] = 8100) -> None:
    """Serve the platform sandboxes (Telegram, OpenAI) and their control API."""
    from easyflow.demo import serve_sandbox

    configure_logging("INFO", json=False)
    asyncio.run(serve_sandbox(port))


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="Exit after the story")] = False,
    port: Annotated[int, typer.Option(help="Hub port; the sandbox takes the next one")] = 8000,
) -> None:
    """Hub and sandboxes in one process: a customer asks, the assistant answers."""
    from easyflow.demo import run_demo

    configure_logging("WARNING", json=False)
    asyncio.run(run_demo(port=port, once=once, console=console))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations to EASYFLOW_DATABASE_URL (or the embedded SQLite file)."""
    from easyflow.storage import migrate

    settings = Settings()
    asyncio.run(migrate.upgrade(settings.resolved_database_url, revision))
    console.print(f"database at [bold]{revision}[/bold]")


@tenants_app.command("create")
def tenants_create(name: str) -> None:
    """Create a tenant and print its id."""
    tenant = _run(lambda c: c.tenants.create(name))
    console.print(f"tenant [bold]{tenant.id}[/bold] created: {tenant.name}")


@tenants_app.command("list")
def tenants_list() -> None:
    tenants = _run(lambda c: c.tenants.list())
    table = Table("id", "name", "created")
    for t in tenants:
        table.add_row(str(t.id), t.name, t.created_at.isoformat(timespec="seconds"))
    console.print(table)


@keys_app.command("create")
def keys_create(tenant: TenantOpt, name: str = "default") -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    info, key = _run(lambda c: c.tenants.create_api_key(tenant, name))
    console.print(f"API key {info.id} for tenant {tenant} (shown once, store it now):")
    print(key)


@keys_app.command("generate-secret")
def keys_generate_secret() -> None:
    """Print a new Fernet key for EASYFLOW_SECRET_KEYS (prepend it to rotate)."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


@keys_app.command("reencrypt")
def keys_reencrypt() -> None:
    """After prepending a new key to EASYFLOW_SECRET_KEYS: re-encrypt every stored secret."""

    async def work(c: Any) -> int:
        async with c.uow() as uow:
            count = int(await uow.reencrypt_secrets())
            await uow.commit()
            return count

    console.print(f"re-encrypted the secrets of {_run(work)} integrations")


@add_app.command("telegram")
def add_telegram(
    tenant: TenantOpt,
    token: Annotated[str, typer.Option(help="Bot token from @BotFather")],
    name: str = "",
) -> None:
    """Connect a bot and register its webhook at EASYFLOW_PUBLIC_URL."""
    integration = _run(
        lambda c: c.integrations.add(tenant, "telegram", {"token": token}, name=name)
    )
    console.print(f"telegram integration [bold]{integration.id}[/bold] connected")


@add_app.command("openai")
def add_openai(
    tenant: TenantOpt,
    api_key: Annotated[str, typer.Option(help="OpenAI API key")],
    model: str = "gpt-4.1-mini",
) -> None:
    """Connect OpenAI; add "openai" before "local" in the tenant's AI providers to use it."""
    integration = _run(
        lambda c: c.integrations.add(
            tenant, "openai", {"api_key": api_key}, settings={"model": model}
        )
    )
    console.print(f"openai integration [bold]{integration.id}[/bold] connected")


@integrations_app.command("rotate-secret")
def integrations_rotate_secret(tenant: TenantOpt, integration: int) -> None:
    """Register a new webhook secret at the platform (the old one stays valid meanwhile)."""
    _run(lambda c: c.integrations.rotate_webhook_secret(tenant, integration))
    console.print(f"integration {integration}: new webhook secret registered")


@integrations_app.command("list")
def integrations_list(tenant: TenantOpt) -> None:
    items = _run(lambda c: c.integrations.list(tenant))
    table = Table("id", "platform", "name", "status", "settings")
    for i in items:
        table.add_row(str(i.id), i.platform, i.name, i.status.value, json.dumps(i.settings))
    console.print(table)


def main() -> None:
    app()
