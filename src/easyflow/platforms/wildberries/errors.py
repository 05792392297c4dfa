"""Wildberries responses classified: every family has its own error shape (§1.5 of the
contract), normalised here into the hub's error tree.

- gateway (401, 429, unknown path): `{"title", "detail", ...}`;
- marketplace: `{"code", "message", "data"}`, and the stocks 409 is an *array* of those;
- content / prices: `{"error": true, "errorText": ...}`, sometimes inside an HTTP 200;
- statistics: `{"errors": [...]}` or `{"errors": "..."}`.

A 429 says how long to wait in `X-Ratelimit-Retry` (WB does not use Retry-After).
"""

from __future__ import annotations

from typing import Any

from easyflow.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitedError,
    RejectedError,
    RetryableError,
)
from easyflow.http import RawResponse

_NAME = "wildberries"
_RETRYABLE_CODES = {"StoreIsProcessing"}


class ConflictItems(RejectedError):
    """A 409 listing the refused items (stocks): the adapter reports them per item."""

    def __init__(self, message: str, items: list[dict[str, Any]], status: int) -> None:
        super().__init__(message, platform=_NAME, status=status)
        self.items = items


def _message(body: Any, status: int) -> tuple[str, str]:
    """(code, text) of any WB error shape."""
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if not isinstance(body, dict):
        return "", f"HTTP {status}"
    if body.get("error") is True:
        return "", str(body.get("errorText") or "error")
    errors = body.get("errors")
    if errors:
        return "", "; ".join(errors) if isinstance(errors, list) else str(errors)
    code = str(body.get("code") or "")
    text = body.get("message") or body.get("detail") or body.get("title") or f"HTTP {status}"
    return code, str(text)


def classify(response: RawResponse) -> Any:
    """The payload of a successful call (None for 204), or the typed error it describes."""
    status = response.status
    body = response.json()
    if status < 300:
        if isinstance(body, dict) and body.get("error") is True:  # content errors in a 200
            raise RejectedError(_message(body, status)[1], platform=_NAME, status=status)
        return body
    code, text = _message(body, status)
    if status == 429:
        retry = response.header_seconds("x-ratelimit-retry")
        raise RateLimitedError(text, platform=_NAME, status=status, retry_after=retry)
    if status == 401:
        raise AuthenticationError(text, platform=_NAME, status=status)
    if status in (402, 403):
        raise ConfigurationError(text, platform=_NAME, status=status)
    if status >= 500 or code in _RETRYABLE_CODES:
        raise RetryableError(text, platform=_NAME, status=status)
    if status == 409 and isinstance(body, list):
        raise ConflictItems(f"{code}: {text}", [i for i in body if isinstance(i, dict)], status)
    raise RejectedError(f"{code}: {text}" if code else text, platform=_NAME, status=status)
