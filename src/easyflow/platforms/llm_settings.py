"""An AI integration's settings (model, temperature, token limit, timeout), checked once.

Every language-model adapter reads its settings through `read()`, so a value out of range is
a ConfigurationError when the integration is added (a 400 with the reason), never a failure
on a customer's message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from easyflow.domain.errors import ConfigurationError
from easyflow.platforms.credentials import SettingField

# Model ids are letters, digits, dots, dashes and underscores (gpt-4.1-mini,
# claude-haiku-4-5, yandexgpt-lite, qwen3-235b-a22b-fp8); they go into URLs.
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


@dataclass(frozen=True, slots=True)
class LlmSettings:
    model: str
    temperature: float
    max_tokens: int
    tools: bool
    timeout_seconds: float | None


def read(
    platform: str,
    settings: Mapping[str, Any],
    default_model: str,
    tokens_key: str = "max_tokens",
    default_tokens: int = 500,
) -> LlmSettings:
    model = str(settings.get("model") or default_model)
    if not _MODEL.fullmatch(model):
        raise ConfigurationError(
            f"setting 'model' is not a model id: {model[:40]!r}", platform=platform
        )
    return LlmSettings(
        model=model,
        temperature=_number(platform, settings, "temperature", 0.3, 0.0, 2.0),
        max_tokens=int(
            _number(platform, settings, tokens_key, default_tokens, 1, 100_000, whole=True)
        ),
        tools=_flag(platform, settings, "tools"),
        timeout_seconds=timeout(settings),
    )


def setting_fields(tokens_key: str = "max_tokens") -> tuple[SettingField, ...]:
    """The settings `read` takes besides the model (a connect option), declared so that an
    unknown one is refused; their values are checked by `read` when the adapter is built."""
    return (
        SettingField("temperature", "Sampling temperature, 0 to 2 (default 0.3)"),
        SettingField(tokens_key, "Most tokens in one answer"),
        SettingField("tools", "Whether the model may look up the customer's orders (true)"),
        SettingField("timeout_seconds", "Seconds one answer may take before the next model"),
    )


def timeout(settings: Mapping[str, Any]) -> float | None:
    """The per-provider timeout the chain applies, or None for its default."""
    value = settings.get("timeout_seconds")
    if value is None:
        return None
    return _number("", settings, "timeout_seconds", 20.0, 0.01, 600.0)


def _number(
    platform: str,
    settings: Mapping[str, Any],
    name: str,
    default: float,
    low: float,
    high: float,
    *,
    whole: bool = False,
) -> float:
    value = settings.get(name, default)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and math.isfinite(value) and low <= value <= high
    if ok and whole:
        ok = float(value).is_integer()
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise ConfigurationError(
            f"setting {name!r} must be {kind} from {low:g} to {high:g}", platform=platform
        )
    return float(value)


def _flag(platform: str, settings: Mapping[str, Any], name: str) -> bool:
    value = settings.get(name, True)
    if not isinstance(value, bool):
        raise ConfigurationError(f"setting {name!r} must be true or false", platform=platform)
    return value
