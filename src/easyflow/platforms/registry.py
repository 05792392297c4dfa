"""The platforms the hub knows, as data: spec, credentials, classifier, adapter, webhook parser.

Generic code (the adapter factory in bootstrap, the webhook intake) looks platforms up here;
adding a platform is one module plus one line below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from easyflow.domain.errors import InvalidRequestError, NotFoundError
from easyflow.domain.tenancy import Capability
from easyflow.http import PlatformClient, PlatformSpec
from easyflow.http.client import Classifier
from easyflow.platforms import (
    anthropic,
    local,
    openai,
    ozon,
    telegram,
    viber,
    vk,
    whatsapp,
    wildberries,
    yandexgpt,
)
from easyflow.platforms.credentials import (
    ConnectOption,
    CredentialField,
    SettingField,
    check_credentials,
    seconds_per_name,
)
from easyflow.ports import WebhookParser


@dataclass(frozen=True, slots=True)
class PlatformDefinition:
    spec: PlatformSpec
    classify: Classifier
    credentials: tuple[CredentialField, ...]
    build: Callable[[PlatformClient, dict[str, Any]], Any]
    webhook: WebhookParser | None = None
    # Regular expressions of its secrets' shapes, masked in every log line.
    secret_patterns: tuple[str, ...] = ()
    # Settings asked for when an account is connected (the CLI's `integrations add`).
    connect_options: tuple[ConnectOption, ...] = ()
    # Every other setting its adapter reads; None when the platform does not declare them.
    settings: tuple[SettingField, ...] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def credential_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.credentials)

    def check_credentials(self, credentials: dict[str, str]) -> None:
        """InvalidRequestError with the reason when `credentials` are not well-formed."""
        check_credentials(self.name, self.credentials, credentials)

    def check_setting_changes(self, changes: Mapping[str, Any]) -> None:
        """InvalidRequestError naming the first change the platform cannot take: a credential
        (secrets are rotated, never settings), a setting it does not declare (where it
        declares its settings), or a value its declaration refuses. None removes a setting."""
        known: dict[str, SettingField | None] = {o.name: None for o in self.connect_options}
        known |= {f.name: f for f in self.settings or ()}
        for name, value in changes.items():
            if name in self.credential_fields:
                raise InvalidRequestError(
                    f"{name!r} is a {self.name} credential, not a setting: connect the account "
                    "again to change it"
                )
            if self.settings is not None and name not in known:
                takes = ", ".join(sorted(known)) or "none"
                raise InvalidRequestError(
                    f"{self.name} has no setting {name!r} (its settings: {takes})"
                )
            field = known.get(name)
            reason = None if value is None or field is None else field.check(value)
            if reason:
                raise InvalidRequestError(f"{self.name} setting {name!r} {reason}")


def platform(module: ModuleType) -> PlatformDefinition:
    """A platform package's definition from its conventional exports (see platforms/vk).

    Every package exports SPEC (with its capabilities), classify, CREDENTIALS and
    create_adapter(client, settings); and, where it has them, WEBHOOK (the parser of the
    webhooks it sends), SECRET_PATTERNS (its keys' shapes, masked in logs) and
    CONNECT_OPTIONS (settings asked for at connection) and SETTINGS (the other settings its
    adapter reads: declared, unknown ones are refused when settings are changed). A
    marketplace that exports STREAMS takes the hub's schedule setting for them.
    """
    settings = getattr(module, "SETTINGS", None)
    streams = getattr(module, "STREAMS", ())
    if module.SPEC.offers(Capability.MARKETPLACE) and streams:
        settings = (*(settings or ()), _schedule(streams))
    return PlatformDefinition(
        spec=module.SPEC,
        classify=module.classify,
        credentials=module.CREDENTIALS,
        build=module.create_adapter,
        webhook=getattr(module, "WEBHOOK", None),
        secret_patterns=getattr(module, "SECRET_PATTERNS", ()),
        connect_options=getattr(module, "CONNECT_OPTIONS", ()),
        settings=settings,
    )


def _schedule(streams: tuple[Any, ...]) -> SettingField:
    """`sync_every`, read by the sync scheduler (services/sync_schedule.py) for any platform."""
    names = tuple(stream.name for stream in streams)
    return SettingField(
        "sync_every",
        'Seconds between scheduled syncs, per stream (e.g. {"orders": 300})',
        seconds_per_name(names, 60, 30 * 24 * 3600),
    )


def _definitions() -> tuple[PlatformDefinition, ...]:
    return (
        platform(telegram),
        platform(whatsapp),
        platform(vk),
        platform(viber),
        platform(openai),
        platform(yandexgpt),
        platform(anthropic),
        platform(local),
        platform(wildberries),
        platform(ozon),
    )


class PlatformRegistry:
    def __init__(self, definitions: tuple[PlatformDefinition, ...] | None = None) -> None:
        self._by_name = {d.name: d for d in (definitions or _definitions())}

    def get(self, platform: str) -> PlatformDefinition:
        try:
            return self._by_name[platform]
        except KeyError:
            raise NotFoundError(f"unknown platform {platform!r}") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def definitions(self) -> list[PlatformDefinition]:
        return [self._by_name[name] for name in self.names()]

    def webhook_platforms(self) -> list[str]:
        """Platforms that deliver to the webhook route."""
        return sorted(name for name, d in self._by_name.items() if d.webhook is not None)

    def secret_patterns(self) -> list[str]:
        """Every platform's secret shapes, for log redaction."""
        return [p for d in self.definitions() for p in d.secret_patterns]

    def check_credentials(self, platform: str, credentials: dict[str, str]) -> None:
        """Before any call or row: the platform's documented format, or a 400 with why."""
        definition = self.get(platform)
        if not definition.credentials:
            raise InvalidRequestError(f"{platform} needs no integration: every tenant has it")
        definition.check_credentials(credentials)
