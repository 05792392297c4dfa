"""`easyflow integrations add <platform> --<credential> value …`, generated from the registry.

Each platform without a hand-written command gets one whose options are its credential
fields (secret ones prompted hidden when not given), plus `--setting KEY=VALUE` for the
integration's settings (WhatsApp's `fallback_template`). Where the seller registers the webhook
in the platform's console (WhatsApp, VK), the command prints what to paste there.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from easyflow.platforms.registry import PlatformDefinition, PlatformRegistry

Run = Callable[..., Any]


def add_platform_commands(
    add_app: typer.Typer, run: Run, console: Console, skip: tuple[str, ...]
) -> None:
    """One `add <platform>` command per registered messenger not in `skip`."""
    for definition in PlatformRegistry().definitions():
        if definition.name not in skip and definition.webhook is not None:
            add_app.command(definition.name)(_command(definition, run, console))


def _command(definition: PlatformDefinition, run: Run, console: Console) -> Callable[..., None]:
    platform = definition.name

    def command(**options: Any) -> None:
        tenant, name = options.pop("tenant"), options.pop("name")
        settings = _settings(options.pop("setting") or [])
        credentials = {field.name: options[_param(field.name)] for field in definition.credentials}
        integration = run(
            lambda c: c.integrations.add(
                tenant, platform, credentials, name=name, settings=settings
            )
        )
        console.print(f"{platform} integration [bold]{integration.id}[/bold] connected")
        setup = integration.settings.get("webhook_setup")
        if setup:  # the platform's console, not the hub, registers the webhook
            console.print(f"Register the webhook in {setup['console']}:")
            for label, value in setup.items():
                if label != "console":
                    console.print(f"  {label}: [bold]{value}[/bold]", soft_wrap=True)

    parameters = [
        inspect.Parameter(
            "tenant",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[int, typer.Option("--tenant", "-t", help="Tenant id")],
        )
    ]
    for field in definition.credentials:
        option = typer.Option(
            f"--{field.name.replace('_', '-')}",
            help=field.expected,
            prompt=field.secret,
            hide_input=field.secret,
        )
        parameters.append(
            inspect.Parameter(
                _param(field.name),
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[str, option],
            )
        )
    parameters.append(
        inspect.Parameter("name", inspect.Parameter.KEYWORD_ONLY, default="", annotation=str)
    )
    setting = typer.Option(
        "--setting",
        help="An integration setting, KEY=VALUE (VALUE read as JSON when it is JSON), e.g. "
        '\'fallback_template={"name":"customer_reply","language":"en"}\'; repeatable',
    )
    parameters.append(
        inspect.Parameter(
            "setting",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[list[str] | None, setting],
        )
    )
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__doc__ = f"Connect {platform} ({definition.spec.docs})."
    command.__name__ = f"add_{platform}"
    return command


def _param(field: str) -> str:
    return f"cred_{field}"


def _settings(pairs: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` pairs as settings; a VALUE that parses as JSON is taken as that JSON."""
    settings: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--setting")
        try:
            settings[key.strip()] = json.loads(value)
        except ValueError:
            settings[key.strip()] = value
    return settings
