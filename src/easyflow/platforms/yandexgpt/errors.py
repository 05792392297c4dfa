"""How YandexGPT answers fail: the Yandex Cloud gateway's error shape, classified.

`{"error": {"grpcCode": 8, "httpCode": 429, "message": "...", "httpStatus": "Too Many
Requests", "details": []}}`; the HTTP status mirrors `httpCode`. Some gateways answer the
plain gRPC-gateway shape `{"code": 8, "message": "..."}`; both are read. No Retry-After is
documented, so a quota answer backs off exponentially.
"""

from __future__ import annotations

from typing import Any

from easyflow.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    PlatformError,
    RateLimitedError,
    RejectedError,
    RetryableError,
)
from easyflow.http import RawResponse
from easyflow.platforms.chat import error_envelope

_NAME = "yandexgpt"
GAUGE_QUOTA_WAIT = 1.0  # seconds

# gRPC code -> what the caller does (google.rpc.Code).
GRPC_ERRORS: dict[int, type[PlatformError]] = {
    3: RejectedError,  # INVALID_ARGUMENT: e.g. too many input tokens
    4: RetryableError,  # DEADLINE_EXCEEDED
    5: ConfigurationError,  # NOT_FOUND: no such model in this folder
    7: ConfigurationError,  # PERMISSION_DENIED: role or folder missing
    8: RateLimitedError,  # RESOURCE_EXHAUSTED: a quota
    9: RejectedError,  # FAILED_PRECONDITION
    13: RetryableError,  # INTERNAL
    14: RetryableError,  # UNAVAILABLE
    16: AuthenticationError,  # UNAUTHENTICATED
}
HTTP_ERRORS: dict[int, type[PlatformError]] = {
    400: RejectedError,
    401: AuthenticationError,
    403: ConfigurationError,
    404: ConfigurationError,
    429: RateLimitedError,
}


def classify(response: RawResponse) -> Any:
    """The body of a successful call, or the typed error the gateway's envelope describes."""
    body = response.json()
    status = response.status
    if status < 300 and isinstance(body, dict):
        return body
    envelope = error_envelope(body)
    if envelope is None:  # the plain gRPC-gateway shape: the body is the error
        envelope = body if isinstance(body, dict) else {}
    message = str(envelope.get("message") or f"HTTP {status}")
    grpc = envelope.get("grpcCode", envelope.get("code"))
    error = GRPC_ERRORS.get(grpc) if isinstance(grpc, int) else None
    error = error or HTTP_ERRORS.get(status)
    if error is None:
        error = RetryableError if status >= 500 or status == 408 else RejectedError
    if error is RateLimitedError:
        raise RateLimitedError(
            message, platform=_NAME, status=status, retry_after=_quota_wait(message)
        )
    raise error(message, platform=_NAME, status=status)


def _quota_wait(message: str) -> float | None:
    """A `gauge` quota counts generations running now (10 per model): one ends within
    seconds, so a short rest. A `rate` quota (requests per hour) gives no hint: back off."""
    return GAUGE_QUOTA_WAIT if "gauge quota" in message else None
