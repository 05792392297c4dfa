"""Viber REST Bot API facts and the classifier of its answers.

Every answer is HTTP 200 with an application `status` (0 ok; 12 tooManyRequests; 5, 6, 11,
13 the receiver cannot get it; 2, 7, 8, 9, 15 the account is unusable).
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
    name="viber",
    capabilities=(Capability.MESSENGER,),
    base_url="https://chatapi.viber.com",
    auth=Auth(
        AuthStyle.HEADER, credential="auth_token", header="X-Viber-Auth-Token", template="{secret}"
    ),
    # Viber publishes no number; status 12 is its signal. A conservative per-bot budget.
    rate_limits=(RateLimit(scope="key", limit=50, period=1.0),),
    docs="https://developers.viber.com/docs/api/rest-bot-api/",
    idempotency_keys=False,  # send_message has no idempotency key
)
CREDENTIALS = (
    CredentialField(
        "auth_token",
        pattern=r"[A-Za-z0-9-]{16,128}",
        expected="the bot's authentication token from the Viber admin panel (4453b6ac…-…-…)",
    ),
)

RATE_LIMITED, REJECT, CONFIG, AUTH = "rate", "reject", "config", "auth"
STATUS_CODES: dict[int, tuple[str, str]] = {
    1: (CONFIG, "invalidUrl"),
    2: (AUTH, "invalidAuthToken"),
    3: (REJECT, "badData"),
    4: (REJECT, "missingData"),
    5: (REJECT, "receiverNotRegistered"),
    6: (REJECT, "receiverNotSubscribed"),
    7: (CONFIG, "publicAccountBlocked"),
    8: (AUTH, "publicAccountNotFound"),
    9: (CONFIG, "publicAccountSuspended"),
    10: (CONFIG, "webhookNotSet"),
    11: (REJECT, "receiverNoSuitableDevice"),
    12: (RATE_LIMITED, "tooManyRequests"),
    13: (REJECT, "apiVersionNotSupported"),
    14: (REJECT, "incompatibleWithVersion"),
    15: (CONFIG, "publicAccountNotAuthorized"),
}
_NAME = SPEC.name


def classify(response: RawResponse) -> Any:
    """The body of a successful call, or the typed error its `status` names."""
    body = response.json()
    if not isinstance(body, dict) or response.status >= 300:
        if response.status >= 500:
            raise RetryableError(f"HTTP {response.status}", platform=_NAME, status=response.status)
        raise RejectedError(
            "response is not a Viber envelope", platform=_NAME, status=response.status
        )
    status = body.get("status")
    if status == 0:
        return body
    if not isinstance(status, int) or isinstance(status, bool):
        raise RejectedError("Viber answer has no status", platform=_NAME)
    action, name = STATUS_CODES.get(status, ("retry", "generalError"))
    reason = f"({status}) {body.get('status_message') or name}"
    if action == RATE_LIMITED:
        raise RateLimitedError(reason, platform=_NAME, status=status)
    if action == AUTH:
        raise AuthenticationError(reason, platform=_NAME, status=status)
    if action == CONFIG:
        raise ConfigurationError(reason, platform=_NAME, status=status)
    if action == REJECT:
        raise RejectedError(reason, platform=_NAME, status=status)
    raise RetryableError(reason, platform=_NAME, status=status)  # generalError: maybe later
