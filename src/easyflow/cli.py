"""The `easyflow` command.

Every command that opens the database first checks that EASYFLOW_SECRET_KEYS can read the
stored secrets and stops with what to do when it cannot; `keys reencrypt` and
`integrations remove` skip that check, because they are how such rows are found and removed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Annotated, Any

import typer
from rich.table import Table

from easyflow.cli_connect import add_platform_commands, setting_pairs
from easyflow.cli_notifications import register as _register_notifications
from easyflow.cli_runtime import TenantOpt, clean, console, run, with_container
from easyflow.cli_sync import register as _register_sync
from easyflow.config import Settings
from easyflow.observability.logging import configure_logging

app = typer.Typer(help="Easy Flow: the integration hub for online sellers.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants (sellers).", no_args_is_help=True)
keys_app = typer.Typer(help="Tenant API keys.", no_args_is_help=True)
integrations_app = typer.Typer(help="Connected platform accounts.", no_args_is_help=True)
add_app = typer.Typer(help="Connect a platform account.", no_args_is_help=True)
ai_app = typer.Typer(help="AI providers: costs and monthly budgets.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(integrations_app, name="integrations")
integrations_app.add_typer(add_app, name="add")
app.add_typer(ai_app, name="ai")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Serve the hub (API, webhooks, in-process jobs) on the configured database."""
    import uvicorn

    from easyflow.api.limits import HeaderLimitedHttp
    from easyflow.app import create_app

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    # The same start-up checks as the app's (keys, migrations), before uvicorn: a refusal is
    # one clear line instead of a lifespan traceback.
    clean(with_container(settings, _nothing))
    uvicorn.run(
        create_app(settings, long_running=True),
        host=host or settings.host,
        port=port or settings.port,
        http=HeaderLimitedHttp,  # httptools, with a bound on the header block (api/limits.py)
    )


async def _nothing(_container: Any) -> None:
    return None


@app.command()
def worker() -> None:
    """Run a job worker on the Redis broker (EASYFLOW_BROKER_URL=redis://...)."""
    from easyflow.worker import run_worker

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.broker_url.startswith("memory"):
        console.print("[red]error:[/red] a worker needs EASYFLOW_BROKER_URL=redis://...")
        raise typer.Exit(2)
    clean(run_worker(settings))


@app.command()
def sandbox(port: Annotated[int, typer.Option(help="Port")] = 8100) -> None:
    """Serve an emulator of every platform that has one, and their control API; lists each
    with its mount and demo accounts."""
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
    tenant = run(lambda c: c.tenants.create(name))
    console.print(f"tenant [bold]{tenant.id}[/bold] created: {tenant.name}")


@tenants_app.command("list")
def tenants_list() -> None:
    tenants = run(lambda c: c.tenants.list())
    table = Table("id", "name", "created")
    for t in tenants:
        table.add_row(str(t.id), t.name, t.created_at.isoformat(timespec="seconds"))
    console.print(table)


@keys_app.command("create")
def keys_create(tenant: TenantOpt, name: str = "default") -> None:
    """Create an API key; it is printed once and stored only as a hash."""
    info, key = run(lambda c: c.tenants.create_api_key(tenant, name))
    console.print(f"API key {info.id} for tenant {tenant} (shown once, store it now):")
    print(key)


@keys_app.command("list")
def keys_list(tenant: TenantOpt) -> None:
    """A tenant's API keys (prefix only; the key itself was shown once)."""
    keys = run(lambda c: c.tenants.list_api_keys(tenant))
    table = Table("id", "name", "prefix", "created", "revoked")
    for k in keys:
        revoked = k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else ""
        table.add_row(
            str(k.id),
            k.name,
            f"ef_{k.prefix}_…",
            k.created_at.isoformat(timespec="seconds"),
            revoked,
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    tenant: TenantOpt, key_id: Annotated[int, typer.Argument(help="Key id (`keys list`)")]
) -> None:
    """Revoke an API key: it stops authenticating at once."""
    run(lambda c: c.tenants.revoke_api_key(tenant, key_id))
    console.print(f"API key {key_id} of tenant {tenant} revoked")


@keys_app.command("generate-secret")
def keys_generate_secret() -> None:
    """Print a new Fernet key for EASYFLOW_SECRET_KEYS (prepend it to rotate)."""
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


@keys_app.command("reencrypt")
def keys_reencrypt() -> None:
    """After prepending a new key to EASYFLOW_SECRET_KEYS: re-encrypt every stored secret.

    Rows no configured key can read are listed and left as they are (exit status 1).
    """

    async def work(c: Any) -> Any:
        async with c.uow() as uow:
            report = await uow.reencrypt_secrets()
            await uow.commit()
            return report

    report = run(work, check_secret_keys=False)
    console.print(f"re-encrypted the secrets of {report.rewritten} integrations")
    if report.unreadable:
        for row in report.unreadable:
            console.print(
                f"[red]unreadable:[/red] integration {row.integration_id} "
                f"(tenant {row.tenant_id}, {row.platform})"
            )
        console.print(
            f"{len(report.unreadable)} integrations could not be decrypted with any key in "
            "EASYFLOW_SECRET_KEYS: add the key they were encrypted with and run this again, "
            "or remove them (`easyflow integrations remove`) and connect them again"
        )
        raise typer.Exit(1)


@ai_app.command("providers")
def ai_providers(
    tenant: TenantOpt,
    providers: Annotated[list[str], typer.Argument(help="In order, e.g. yandexgpt openai local")],
) -> None:
    """Set the order in which the tenant's AI providers are asked (local always ends it)."""
    from dataclasses import replace

    from easyflow.domain.errors import InvalidRequestError
    from easyflow.domain.tenancy import Capability

    async def work(c: Any) -> tuple[str, ...]:
        for provider in providers:
            if not c.adapters.offers(provider, Capability.CHAT_MODEL):
                raise InvalidRequestError(f"{provider!r} is not an AI provider")
        current = await c.tenants.get(tenant)
        chain = tuple(dict.fromkeys([*providers, "local"]))
        await c.tenants.set_ai_profile(tenant, replace(current.ai_profile, providers=chain))
        return chain

    chain = run(work)
    console.print(f"AI providers of tenant {tenant}: {' -> '.join(chain)}")


@ai_app.command("costs")
def ai_costs(tenant: TenantOpt) -> None:
    """This month's AI replies, tokens and estimated cost per provider and model."""
    report = run(lambda c: c.ai_costs.report(tenant))
    table = Table("provider", "model", "requests", "tokens in", "tokens out", "cost")
    for line in report.lines:
        cost = f"{line.cost} {line.currency}" if line.currency else "-"
        table.add_row(
            line.provider,
            line.model,
            str(line.requests),
            str(line.prompt_tokens),
            str(line.completion_tokens),
            cost,
        )
    console.print(table)
    for currency, limit in sorted(report.budgets.items()):
        spent = report.spent.get(currency, 0)
        state = " [red](spent: the local responder answers)[/red]" if spent >= limit else ""
        console.print(f"budget {currency}: {spent} of {limit} this month{state}")


@ai_app.command("budget")
def ai_budget(
    tenant: TenantOpt,
    currency: Annotated[str, typer.Option(help="ISO 4217 code: USD, RUB …")],
    limit: Annotated[str | None, typer.Option(help="Monthly limit; omit to remove it")] = None,
) -> None:
    """Set the monthly AI budget in one currency; once spent, the local responder answers."""
    from decimal import Decimal, InvalidOperation

    try:
        amount = Decimal(limit) if limit is not None else None
    except InvalidOperation:
        console.print(f"[red]error:[/red] {limit!r} is not an amount")
        raise typer.Exit(2) from None
    run(lambda c: c.ai_costs.set_budget(tenant, currency, amount))
    what = f"{amount} {currency.upper()} a month" if amount is not None else "removed"
    console.print(f"AI budget of tenant {tenant}: {what}")


@integrations_app.command("rotate-secret")
def integrations_rotate_secret(tenant: TenantOpt, integration: int) -> None:
    """Register a new webhook secret at the platform; the old one is accepted for
    EASYFLOW_WEBHOOK_SECRET_OVERLAP_SECONDS (queued deliveries), then refused."""
    run(lambda c: c.integrations.rotate_webhook_secret(tenant, integration))
    console.print(f"integration {integration}: new webhook secret registered")


@integrations_app.command("set")
def integrations_set(
    tenant: TenantOpt,
    integration: int,
    setting: Annotated[
        list[str] | None,
        typer.Option(
            "--setting",
            help="KEY=VALUE (VALUE read as JSON when it is JSON), as for `integrations add`; "
            "repeatable",
        ),
    ] = None,
    unset: Annotated[
        list[str] | None, typer.Option("--unset", help="A setting to remove; repeatable")
    ] = None,
) -> None:
    """Change an integration's settings (e.g. WhatsApp's fallback_template, a marketplace's
    warehouse_id); the others stay. Credentials are not settings."""
    changes: dict[str, Any] = setting_pairs(setting or [])
    changes |= dict.fromkeys(unset or [])
    if not changes:
        console.print("[red]error:[/red] give --setting KEY=VALUE or --unset KEY")
        raise typer.Exit(2)
    updated = run(lambda c: c.integrations.update_settings(tenant, integration, changes))
    console.print(f"integration {integration} settings: {json.dumps(updated.settings)}")


@integrations_app.command("remove")
def integrations_remove(tenant: TenantOpt, integration: int) -> None:
    """Remove an integration (its webhook too, when its token can still be read)."""
    run(lambda c: c.integrations.delete(tenant, integration), check_secret_keys=False)
    console.print(f"integration {integration} removed")


@integrations_app.command("list")
def integrations_list(tenant: TenantOpt) -> None:
    items = run(lambda c: c.integrations.list(tenant))
    table = Table("id", "platform", "name", "status", "settings")
    for i in items:
        table.add_row(str(i.id), i.platform, i.name, i.status.value, json.dumps(i.settings))
    console.print(table)


# --------------------------------------------------------------------------- operators

conversations_app = typer.Typer(
    help="Conversations a person handles: list, read, reply, release, close.",
    no_args_is_help=True,
)
handover_app = typer.Typer(help="When the bot hands over, and who is told.", no_args_is_help=True)
app.add_typer(conversations_app, name="conversations")
app.add_typer(handover_app, name="handover")
OperatorOpt = Annotated[str, typer.Option("--operator", help="Your name, shown to the team")]


@conversations_app.command("list")
def conversations_list(
    tenant: TenantOpt,
    status: Annotated[str, typer.Option(help="handover, open, closed or all")] = "handover",
    limit: int = 50,
) -> None:
    """Conversations waiting for a person (or in another state), the longest waiting first."""
    from easyflow.domain.messaging import ConversationStatus

    wanted = None if status == "all" else ConversationStatus(status)
    found = run(lambda c: c.operators.conversations(tenant, wanted, limit=limit))
    table = Table("id", "status", "customer", "channel", "since", "reason", "last message")
    for s in found:
        since = s.handed_over_at.isoformat(timespec="minutes") if s.handed_over_at else ""
        who = s.contact.display_name + (f" @{s.contact.username}" if s.contact.username else "")
        table.add_row(
            str(s.conversation.id),
            s.conversation.status.value,
            who,
            f"{s.platform} {s.conversation.chat_id}",
            since,
            s.handover_reason or "",
            (s.last_message or "")[:60],
        )
    console.print(table)


@conversations_app.command("show")
def conversations_show(tenant: TenantOpt, conversation: int, limit: int = 30) -> None:
    """A conversation's messages (with attachments) and the customer's orders."""
    view = run(lambda c: c.operators.show(tenant, conversation, limit=limit))
    s = view.summary
    console.print(
        f"[bold]#{s.conversation.id}[/bold] {s.conversation.status.value} · "
        f"{s.contact.display_name} · {s.platform} {s.conversation.chat_id} · "
        f"phone {view.phone or 'not proven'} · {s.handover_reason or ''}"
    )
    for m in view.messages:
        extra = "".join(f" [{a.kind} {json.dumps(dict(a.metadata))}]" for a in m.attachments)
        stamp = m.created_at.isoformat(timespec="seconds")
        console.print(f"{stamp} {m.author.value:>9}: {m.text}{extra}", markup=False)
    for o in view.orders:
        mark = "linked" if o.linked else "mentioned"
        track = f" tracking {o.order.tracking_number}" if o.order.tracking_number else ""
        console.print(
            f"order {o.order.number}: {o.order.status.value}, {o.order.total} "
            f"{o.order.currency}{track} ({mark})",
            markup=False,
        )


@conversations_app.command("reply")
def conversations_reply(
    tenant: TenantOpt, conversation: int, text: str, operator: OperatorOpt = ""
) -> None:
    """Answer the customer as a person; it goes out on their channel through the outbox."""
    message = run(lambda c: _reply_and_send(c, tenant, conversation, text, operator))
    console.print(f"reply {message.id} to conversation {conversation}: {message.status.value}")


async def _reply_and_send(c: Any, tenant: int, conversation: int, text: str, operator: str) -> Any:
    stored = await c.operators.reply(tenant, conversation, text, operator)
    await c.queue.wait_idle()  # the in-process broker: sent before the command exits
    view = await c.operators.show(tenant, conversation, limit=50)
    return next((m for m in view.messages if m.id == stored.id), stored)


@conversations_app.command("release")
def conversations_release(tenant: TenantOpt, conversation: int, operator: OperatorOpt = "") -> None:
    """Hand the conversation back to the bot."""
    run(lambda c: _and_send(c, c.operators.release(tenant, conversation, operator)))
    console.print(f"conversation {conversation} is back with the bot")


@conversations_app.command("close")
def conversations_close(tenant: TenantOpt, conversation: int, operator: OperatorOpt = "") -> None:
    """Close it; a customer who writes again starts afresh."""
    run(lambda c: _and_send(c, c.operators.close(tenant, conversation, operator)))
    console.print(f"conversation {conversation} closed")


async def _and_send(c: Any, work: Awaitable[None]) -> None:
    await work
    await c.queue.wait_idle()


@handover_app.command("rules")
def handover_rules(tenant: TenantOpt) -> None:
    """The tenant's handover rules as JSON (the admin API's shape)."""
    from easyflow.api.operators import rules_out

    rules, secret = run(lambda c: c.operators.rules(tenant))
    print(rules_out(rules, secret).model_dump_json(indent=2))


@handover_app.command("set")
def handover_set(
    tenant: TenantOpt,
    rules_json: Annotated[str, typer.Argument(help="JSON as PUT /api/v1/handover/rules takes")],
) -> None:
    """Replace the rules, e.g. '{"keywords": ["refund"], "operator_integration_id": 1,
    "operator_chat_id": "123456", "webhook_url": "https://tool.example/hook"}'."""
    from pydantic import ValidationError

    from easyflow.api.operators import RulesIn, rules_out

    try:
        body = RulesIn.model_validate_json(rules_json)
    except ValidationError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    rules, secret = run(lambda c: c.operators.set_rules(tenant, body.to_rules()))
    print(rules_out(rules, secret).model_dump_json(indent=2))


def main() -> None:
    app()


_register_sync(app)
_register_notifications(app)
# `add <platform>` for every registered platform, generated from its credential fields and
# connect options.
add_platform_commands(add_app, lambda work: run(work), console)


# --------------------------------------------------------------------------- outbox

outbox_app = typer.Typer(
    help="Outgoing messages: dead or unconfirmed ones, their delivery history, replay.",
    no_args_is_help=True,
)
app.add_typer(outbox_app, name="outbox")


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


@outbox_app.command("list")
def outbox_list(
    tenant: TenantOpt,
    status: Annotated[
        str | None,
        typer.Option(help="pending, sent, failed, dead or unconfirmed (default: all)"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Newest rows first")] = 100,
) -> None:
    """The tenant's outbox rows, newest first, with their last error."""
    from easyflow.domain.messaging import DeliveryStatus

    try:
        wanted = DeliveryStatus(status) if status is not None else None
    except ValueError:
        console.print(f"[red]error:[/red] unknown status {status!r}")
        raise typer.Exit(2) from None
    rows = run(lambda c: c.inbox.outbox(tenant, wanted, limit))
    table = Table("id", "integration", "kind", "status", "attempts", "created", "last error")
    for r in rows:
        table.add_row(
            str(r.id),
            str(r.integration_id),
            r.kind.value,
            r.status.value,
            str(r.attempts),
            _when(r.created_at),
            r.last_error or "",
        )
    console.print(table)


@outbox_app.command("show")
def outbox_show(tenant: TenantOpt, outbox_id: int) -> None:
    """One row and its delivery history: every attempt, its outcome and error."""
    item, attempts = run(lambda c: c.inbox.delivery(tenant, outbox_id))
    console.print(
        f"outbox row {item.id}: [bold]{item.status.value}[/bold] after {item.attempts} "
        f"attempt(s); integration {item.integration_id}, message {item.message_id}"
    )
    table = Table("attempt", "outcome", "at", "platform id", "error")
    for a in attempts:
        table.add_row(
            str(a.attempt), a.outcome.value, _when(a.at), a.platform_message_id or "", a.error or ""
        )
    console.print(table)


@outbox_app.command("replay")
def outbox_replay(tenant: TenantOpt, outbox_id: int) -> None:
    """Send a dead or unconfirmed row again (with a fresh count of attempts)."""
    run(lambda c: _and_send(c, c.inbox.replay(tenant, outbox_id)))
    console.print(f"outbox row {outbox_id} queued again; `easyflow outbox show` tells the outcome")
