"""VK API facts and the classifier of its answers.

Every answer is HTTP 200: `{"response": ...}` on success, `{"error": {"error_code",
"error_msg", "request_params"}}` on failure, so the envelope is checked, never the status.
Rate errors (6 per second, 9 flood control, 29 daily quota) carry no wait hint.
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

API_VERSION = "5.199"
SPEC = PlatformSpec(
    name="vk",
    capabilities=(Capability.MESSENGER,),
    base_url="https://api.vk.com",
    # VK takes the token as `access_token` or as a Bearer header; a header keeps it out of URLs.
    auth=Auth(AuthStyle.HEADER, credential="access_token"),
    rate_limits=(RateLimit(scope="key", limit=20, period=1.0),),  # community tokens: 20 rps
    docs="https://dev.vk.com/ru/api/callback/getting-started",
    idempotency_keys=True,  # messages.send random_id: a repeat returns the first message
)
CREDENTIALS = (
    CredentialField(
        "access_token",
        pattern=r"[A-Za-z0-9._-]{20,512}",
        expected="a community access token with the messages scope (vk1.a.…)",
    ),
    CredentialField(
        "group_id", pattern=r"[1-9][0-9]{0,18}", expected="the community id (digits)", secret=False
    ),
    CredentialField(
        "confirmation",
        pattern=r"[A-Za-z0-9]{4,64}",
        expected="the confirmation string shown in Callback API settings (e.g. 5f1d0a9c)",
        secret=False,
    ),
)

RATE_LIMITED, RETRY, REJECT, CONFIG, AUTH = "rate", "retry", "reject", "config", "auth"
# How long flood control (9) usually holds a kind of action: much longer than a second.
FLOOD_WAIT = 60.0
ERROR_CODES: dict[int, tuple[str, str]] = {
    5: (AUTH, "user authorization failed"),
    6: (RATE_LIMITED, "too many requests per second"),
    7: (CONFIG, "permission denied"),
    9: (RATE_LIMITED, "flood control"),
    10: (RETRY, "internal server error"),
    14: (CONFIG, "captcha needed"),
    15: (CONFIG, "access denied"),
    27: (AUTH, "group authorization failed"),
    29: (RATE_LIMITED, "rate limit reached (daily quota)"),
    100: (REJECT, "a parameter is missing or invalid"),
    900: (REJECT, "the customer blacklisted the community"),
    901: (REJECT, "the customer has not allowed messages from the community"),
    902: (REJECT, "the customer's privacy settings forbid it"),
    911: (REJECT, "keyboard format is invalid"),
    912: (CONFIG, "chat bot features are off in the community settings"),
    914: (REJECT, "message is too long"),
    917: (REJECT, "no access to this chat"),
    935: (REJECT, "user not found in chat"),
    945: (REJECT, "chat was disabled"),
}
_NAME = SPEC.name


def classify(response: RawResponse) -> Any:
    """The `response` of a successful call, or the typed error the envelope describes."""
    body = response.json()
    if not isinstance(body, dict):
        if response.status >= 500:
            raise RetryableError("non-JSON server error", platform=_NAME, status=response.status)
        raise RejectedError("response is not a VK API envelope", platform=_NAME)
    error = body.get("error")
    if error is None and "response" in body:
        return body["response"]
    if not isinstance(error, dict):
        if response.status >= 500:
            raise RetryableError(f"HTTP {response.status}", platform=_NAME, status=response.status)
        raise RejectedError("VK answer has neither response nor error", platform=_NAME)
    code = error.get("error_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else -1
    action, meaning = ERROR_CODES.get(code, (REJECT, ""))
    reason = f"({code}) {error.get('error_msg') or meaning or 'no description'}"
    if action == RATE_LIMITED:
        wait = FLOOD_WAIT if code == 9 else None
        raise RateLimitedError(reason, platform=_NAME, status=code, retry_after=wait)
    if action == RETRY:
        raise RetryableError(reason, platform=_NAME, status=code)
    if action == AUTH:
        raise AuthenticationError(reason, platform=_NAME, status=code)
    if action == CONFIG:
        raise ConfigurationError(reason, platform=_NAME, status=code)
    raise RejectedError(reason, platform=_NAME, status=code)
