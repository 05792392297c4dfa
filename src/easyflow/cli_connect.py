"""`easyflow integrations add <platform> --<credential> value …`, generated from the registry.

Each registered platform that has credentials gets one whose options are its
credential fields (secret ones prompted hidden when not given), its connect options (the
settings asked for at connection, e.g. a chat model's `--model`), and `--setting KEY=VALUE`
for any other setting (WhatsApp's `fallback_template`). Where the seller registers the
webhook in the platform's console (WhatsApp, VK), the command prints what to paste there.
A platform with no credentials (the local responder) is never connected, so it has none.
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
    add_app: typer.Typer, run: Run, console: Console, registry: PlatformRegistry | None = None
) -> None:
    """One `add <platform>` per registered platform that has credentials and no command yet."""
    written = {info.name for info in add_app.registered_commands}
    for definition in (registry or PlatformRegistry()).definitions():
        if definition.credentials and definition.name not in written:
            add_app.command(definition.name)(_command(definition, run, console))


def _command(definition: PlatformDefinition, run: Run, console: Console) -> Callable[..., None]:
    platform = definition.name

    def command(**options: Any) -> None:
        tenant, name = options.pop("tenant"), options.pop("name")
        settings = setting_pairs(options.pop("setting") or [])
        credentials = {field.name: options[_param(field.name)] for field in definition.credentials}
        settings |= {
            option.name: options[_setting(option.name)]
            for option in definition.connect_options
            if options[_setting(option.name)] is not None
        }
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
    for connect_option in definition.connect_options:
        flag = typer.Option(f"--{connect_option.name.replace('_', '-')}", help=connect_option.help)
        parameters.append(
            inspect.Parameter(
                _setting(connect_option.name),
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[str, flag]
                if connect_option.default is None
                else Annotated[str | None, flag],
                default=inspect.Parameter.empty
                if connect_option.default is None
                else connect_option.default,
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


def _setting(name: str) -> str:
    return f"setting_{name}"


def setting_pairs(pairs: list[str]) -> dict[str, Any]:
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
