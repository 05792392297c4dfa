"""OpenAI API facts and the classifier of its answers.

429 comes in two flavours: `rate_limit_exceeded` is transient (wait `retry-after-ms` /
`retry-after`), `insufficient_quota` is billing and must never be retried; `x-should-retry`
overrides the status-based decision when present.
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
from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformSpec, RawResponse
from easyflow.platforms.chat import error_envelope
from easyflow.platforms.credentials import CredentialField

SPEC = PlatformSpec(
    name="openai",
    capabilities=(Capability.CHAT_MODEL,),
    base_url="https://api.openai.com/v1",
    auth=Auth(AuthStyle.HEADER, credential="api_key", template="Bearer {secret}"),
    timeout=60.0,
    sandbox_path="/openai/v1",  # the emulator is mounted at /openai and serves /v1/...
    docs="https://platform.openai.com/docs/api-reference/chat",
)
# Every OpenAI secret key starts with `sk-` (user, `sk-proj-`, `sk-svcacct-`, `sk-admin-`);
# the rest is url-safe base64. It goes into a header: no space or line break may pass.
CREDENTIALS = (
    CredentialField(
        "api_key",
        pattern=r"sk-[A-Za-z0-9_-]{8,500}",
        expected="an OpenAI secret key, sk-… (https://platform.openai.com/api-keys)",
    ),
)
SECRET_PATTERNS = (r"\bsk[-_][A-Za-z0-9_-]{16,}\b",)  # sk-…, sk-proj-…, sk-svcacct-…
_NAME = SPEC.name


def _retry_after(response: RawResponse) -> float | None:
    ms = response.header_seconds("retry-after-ms")
    if ms is not None:
        return ms / 1000
    return response.header_seconds("retry-after")


def classify(response: RawResponse) -> Any:
    """The response object of a successful call, or the typed error its envelope describes."""
    body = response.json()
    if response.status < 300 and isinstance(body, dict):
        return body
    error = error_envelope(body) or {}
    message = str(error.get("message") or f"HTTP {response.status}")
    code = error.get("code") or error.get("type")
    status = response.status
    should_retry = response.headers.get("x-should-retry")
    if status == 429 and code == "insufficient_quota":
        raise ConfigurationError(message, platform=_NAME, status=status)
    if status == 429:
        raise RateLimitedError(
            message, platform=_NAME, status=status, retry_after=_retry_after(response)
        )
    if status == 401:
        raise AuthenticationError(message, platform=_NAME, status=status)
    if status in (403, 404):
        raise ConfigurationError(message, platform=_NAME, status=status)
    if should_retry == "false":
        raise RejectedError(message, platform=_NAME, status=status)
    if status >= 500 or status in (408, 409) or should_retry == "true":
        raise RetryableError(
            message, platform=_NAME, status=status, retry_after=_retry_after(response)
        )
    raise RejectedError(message, platform=_NAME, status=status)
