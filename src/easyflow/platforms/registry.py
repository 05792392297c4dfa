"""The platforms the hub knows, as data: spec, classifier, adapter factory, webhook parser.

Generic code (the adapter factory in bootstrap, the webhook intake) looks platforms up here;
adding a platform is one module plus one line below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from easyflow.domain.errors import NotFoundError
from easyflow.http import PlatformClient, PlatformSpec
from easyflow.http.client import Classifier
from easyflow.platforms import openai, telegram
from easyflow.ports import WebhookParser


@dataclass(frozen=True, slots=True)
class PlatformDefinition:
    spec: PlatformSpec
    classify: Classifier
    credential_fields: tuple[str, ...]
    build: Callable[[PlatformClient, dict[str, Any]], Any]
    webhook: WebhookParser | None = None

    @property
    def name(self) -> str:
        return self.spec.name


def _definitions() -> tuple[PlatformDefinition, ...]:
    return (
        PlatformDefinition(
            spec=telegram.SPEC,
            classify=telegram.classify,
            credential_fields=("token",),
            build=lambda client, _settings: telegram.create_adapter(client),
            webhook=telegram.TelegramWebhook(),
        ),
        PlatformDefinition(
            spec=openai.SPEC,
            classify=openai.classify,
            credential_fields=("api_key",),
            build=openai.create_adapter,
        ),
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
