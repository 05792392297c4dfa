"""structlog configuration: JSON (or console) logs with secrets redacted.

Redaction works two ways: values under secret-looking keys are masked, and secret-shaped
strings are masked wherever they appear, because a token can hide inside a URL or an
exception text. The shapes of the hub's own keys and of auth headers are here; each platform
declares the shapes of its keys (`SECRET_PATTERNS` in its package), and the composition root
hands them over from the registry (`add_secret_patterns`), since this layer knows no platform.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(
    r"(token|secret|password|api_?key|authorization|credential|signature)", re.IGNORECASE
)
_SECRET_VALUES = [
    re.compile(r"\bef[-_][A-Za-z0-9_-]{16,}\b"),  # Easy Flow API keys
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)\bApi-Key\s+[A-Za-z0-9._~+/=-]{8,}"),
]
REDACTED = "***"


def add_secret_patterns(patterns: Iterable[str]) -> None:
    """Mask strings of these shapes too, from now on in this process; repeats are ignored."""
    known = {p.pattern for p in _SECRET_VALUES}
    for pattern in patterns:
        if pattern not in known:
            _SECRET_VALUES.append(re.compile(pattern))
            known.add(pattern)


def redact_text(text: str) -> str:
    for pattern in _SECRET_VALUES:
        text = pattern.sub(REDACTED, text)
    return text


def _redact(value: Any, key: str = "") -> Any:
    if key and _SECRET_KEYS.search(key) and not isinstance(value, bool | int | float):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    return value


def redact_event(
    _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secrets in every field, nested ones included."""
    for key in list(event_dict):
        event_dict[key] = _redact(event_dict[key], key)
    return event_dict


def configure_logging(
    level: str = "INFO", json: bool = True, secret_patterns: Iterable[str] = ()
) -> None:
    """Route structlog and the standard library through one redacting renderer, which also
    masks `secret_patterns` (the platforms' key shapes)."""
    add_secret_patterns(secret_patterns)
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_event,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    # httpx logs every request URL at INFO, and Telegram's URL carries the bot token.
    for noisy in ("httpx", "httpcore", "httpx2", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
