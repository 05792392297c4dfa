"""Telegram Bot API facts and the classifier of its answers.

Errors mirror the HTTP status in `{ok: false, error_code, description, parameters}`, and
flood control says how long to wait in `parameters.retry_after`.
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
from easyflow.http import Auth, AuthStyle, PlatformSpec, RateLimit, RawResponse
from easyflow.platforms.credentials import CredentialField

SPEC = PlatformSpec(
    name="telegram",
    capabilities=(Capability.MESSENGER,),
    base_url="https://api.telegram.org",
    auth=Auth(AuthStyle.PATH_TOKEN, credential="token", template="/bot{secret}"),
    rate_limits=(
        RateLimit(scope="key", limit=30, period=1.0),
        RateLimit(scope="chat", limit=1, period=1.0),
        RateLimit(scope="group", limit=20, period=60.0),
    ),
    docs="https://core.telegram.org/bots/api",
    idempotency_keys=False,  # sendMessage has no idempotency key: a repeat is a second copy
)
# The token is `<bot id>:<secret>` (telegram.md §1.1); the secret is 35 url-safe characters
# today, so a little slack either way. It goes into the URL path: nothing else may pass.
CREDENTIALS = (
    CredentialField(
        "token",
        pattern=r"[1-9][0-9]{0,19}:[A-Za-z0-9_-]{30,64}",
        expected="a bot token from @BotFather, <bot id>:<secret> (e.g. 123456789:AAE…)",
    ),
)
# A bot token anywhere in a log line, even glued to the "bot" of a URL path.
SECRET_PATTERNS = (r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{30,}",)

ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
MAX_TEXT = 4096
MAX_CALLBACK_DATA_BYTES = 64
_NAME = SPEC.name


# --------------------------------------------------------------------------- responses


def classify(response: RawResponse) -> Any:
    """The `result` of a successful call, or the typed error the envelope describes."""
    body = response.json()
    if not isinstance(body, dict):
        if response.status >= 500:
            raise RetryableError("non-JSON server error", platform=_NAME, status=response.status)
        raise RejectedError("response is not a Bot API envelope", platform=_NAME)
    if body.get("ok") is True and response.status < 300:
        return body.get("result")
    status = int(body.get("error_code") or response.status)
    description = str(body.get("description") or "no description")
    parameters = body.get("parameters") or {}
    if status == 429:
        retry_after = parameters.get("retry_after")
        wait = float(retry_after) if isinstance(retry_after, int | float) else None
        raise RateLimitedError(description, platform=_NAME, status=429, retry_after=wait)
    if status >= 500:
        raise RetryableError(description, platform=_NAME, status=status)
    if status == 401:
        raise AuthenticationError(description, platform=_NAME, status=401)
    if status in (404, 409):
        # 404 is a malformed token path or method; 409 a webhook/getUpdates conflict.
        raise ConfigurationError(description, platform=_NAME, status=status)
    raise RejectedError(description, platform=_NAME, status=status)
