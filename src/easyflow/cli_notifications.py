"""`easyflow notifications …`: the tenant's notification templates, and sending them.

    easyflow notifications templates list -t 1
    easyflow notifications templates set -t 1 order_shipped ru --text "Заказ №{number} в пути" \\
        --html "Заказ <b>№{number}</b> в пути" --button "Где заказ?=order {number}" \\
        --whatsapp order_shipped:ru --parameter number
    easyflow notifications templates set -t 1 order_shipped en --json template.json
    easyflow notifications templates delete -t 1 order_shipped ru
    easyflow notifications send -t 1 --contact 42 order_shipped number=1001

The JSON file has the admin API's shape (`PUT /api/v1/notifications/templates/{event}/{lang}`).
Attached to the main command by `register()` (cli.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.table import Table

from easyflow.cli_runtime import TenantOpt, console, run

notifications_app = typer.Typer(
    help="Notifications: templates per event and language, and sending them.",
    no_args_is_help=True,
)
templates_app = typer.Typer(help="Notification templates.", no_args_is_help=True)
notifications_app.add_typer(templates_app, name="templates")


def _fail(message: str) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


@templates_app.command("list")
def templates_list(
    tenant: TenantOpt,
    event: Annotated[str | None, typer.Argument(help="Only this event")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The admin API's JSON")] = False,
) -> None:
    """The templates in force: the tenant's own and the built-in ones it has not replaced."""
    from easyflow.api.notifications import TemplateOut, template_out

    found = run(lambda c: c.notifications.templates(tenant, event))
    if as_json:
        print(json.dumps([TemplateOut(**template_out(t)).model_dump() for t in found], indent=2))
        return
    table = Table("event", "language", "source", "text", "html", "buttons", "whatsapp")
    for t in found:
        wa = t.whatsapp
        table.add_row(
            t.event,
            t.language,
            "built-in" if t.builtin else "own",
            t.text,
            t.html or "",
            " | ".join(b.text for row in t.buttons for b in row),
            "" if wa is None else f"{wa.name} ({wa.language}; {', '.join(wa.parameters)})",
        )
    console.print(table)


def _button(spec: str) -> dict[str, str]:
    text, sep, action = spec.partition("=")
    if not sep or not text or not action:
        _fail(f"--button {spec!r}: write TEXT=CALLBACK_DATA or TEXT=https://URL")
    if action.startswith(("https://", "http://")):
        return {"text": text, "url": action}
    return {"text": text, "callback_data": action}


def _body(
    text: str | None,
    html: str | None,
    buttons: list[str],
    whatsapp: str | None,
    parameters: list[str],
    from_json: Path | None,
) -> dict[str, Any]:
    if from_json is not None:
        try:
            body: dict[str, Any] = json.loads(from_json.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            _fail(f"cannot read {from_json}: {exc}")
        return body
    if text is None:
        _fail("give --text (and the other variants), or --json FILE")
    body = {"text": text, "html": html, "buttons": [[_button(b)] for b in buttons]}
    if whatsapp is not None:
        name, _, language = whatsapp.partition(":")
        body["whatsapp"] = {"name": name, "language": language, "parameters": parameters}
    return body


@templates_app.command("set")
def templates_set(
    tenant: TenantOpt,
    event: str,
    language: str,
    text: Annotated[str | None, typer.Option(help="Plain text with {placeholders}")] = None,
    html: Annotated[str | None, typer.Option(help="Telegram HTML variant")] = None,
    button: Annotated[
        list[str], typer.Option(help="TEXT=CALLBACK or TEXT=https://URL; one row each")
    ] = [],  # noqa: B006 - Typer reads the default, never mutates it
    whatsapp: Annotated[
        str | None, typer.Option(help="Approved WhatsApp template as NAME:LANGUAGE")
    ] = None,
    parameter: Annotated[
        list[str], typer.Option(help="Data field of the WhatsApp template's next {{n}}")
    ] = [],  # noqa: B006
    from_json: Annotated[Path | None, typer.Option("--json", help="The API's JSON body")] = None,
) -> None:
    """Store the tenant's template for EVENT in LANGUAGE (replaces the built-in one)."""
    from easyflow.api.notifications import (
        EVENT_PATTERN,
        LANGUAGE_PATTERN,
        TemplateIn,
        TemplateOut,
        template_out,
    )

    if not re.match(EVENT_PATTERN, event):
        _fail("EVENT must be lowercase letters, digits and underscores, starting with a letter")
    if not re.match(LANGUAGE_PATTERN, language):
        _fail("LANGUAGE must be a two- or three-letter code such as ru")
    body = _body(text, html, button, whatsapp, parameter, from_json)
    try:
        template = TemplateIn.model_validate(body).to_template(event, language)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        _fail(errors)
    saved = run(lambda c: c.notifications.set_template(tenant, template))
    print(TemplateOut(**template_out(saved)).model_dump_json(indent=2))


@templates_app.command("delete")
def templates_delete(tenant: TenantOpt, event: str, language: str) -> None:
    """Forget the tenant's own template: the built-in one (if any) serves again."""
    run(lambda c: c.notifications.delete_template(tenant, event, language))
    console.print(f"template {event} ({language}) deleted")


def _data(pairs: list[str]) -> dict[str, str]:
    data = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            _fail(f"{pair!r}: write FIELD=VALUE")
        data[name] = value
    return data


@notifications_app.command("send")
def send(
    tenant: TenantOpt,
    contact: Annotated[int, typer.Option("--contact", "-c", help="Contact id", min=1)],
    template: Annotated[str, typer.Argument(help="The event, e.g. order_shipped")],
    data: Annotated[list[str] | None, typer.Argument(help="FIELD=VALUE ...")] = None,
) -> None:
    """Queue TEMPLATE for one contact and hand it to the sender."""
    values = _data(data or [])

    async def work(c: Any) -> int:
        outbox_id: int = await c.notifications.send_notification(tenant, contact, template, values)
        await c.queue.wait_idle()
        return outbox_id

    outbox_id = run(work)
    console.print(
        f"queued as outbox row {outbox_id}; `easyflow outbox show -t {tenant} {outbox_id}` "
        "tells the outcome"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(notifications_app, name="notifications")
