"""Ozon responses classified. Errors are gRPC-gateway `rpcStatus` bodies (`code`, `message`);
429 carries `Retry-After` in seconds; `Circle is open` is a method cut off under load
(transient). Batch methods report per-item errors inside a 200: the adapter reads those."""

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

_NAME = "ozon"


def classify(response: RawResponse) -> Any:
    status = response.status
    body = response.json()
    if status < 300:
        return body
    message = (
        str(body.get("message") or f"HTTP {status}")
        if isinstance(body, dict)
        else (f"HTTP {status}")
    )
    if status == 429:
        raise RateLimitedError(
            message,
            platform=_NAME,
            status=status,
            retry_after=response.header_seconds("retry-after"),
        )
    if status == 401:
        raise AuthenticationError(message, platform=_NAME, status=status)
    if status == 403:
        raise ConfigurationError(message, platform=_NAME, status=status)
    if status >= 500 or "circle is open" in message.lower():
        raise RetryableError(message, platform=_NAME, status=status)
    raise RejectedError(message, platform=_NAME, status=status)
