"""WhatsApp Cloud API facts and the classifier of its answers.

Errors come in the Graph envelope `{"error": {"message", "type", "code", "error_data":
{"details"}, "fbtrace_id"}}` with a 4xx/5xx status; the code, not the title text, says what to
do (Meta's advice). Throughput and pair-rate errors carry no wait hint.
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

GRAPH_VERSION = "v26.0"  # pinned; the sandbox accepts any vNN.N
SPEC = PlatformSpec(
    name="whatsapp",
    capabilities=(Capability.MESSENGER,),
    base_url="https://graph.facebook.com",
    auth=Auth(AuthStyle.HEADER, credential="access_token"),
    # 80 messages/s per business number by default (upgraded numbers get 1,000).
    rate_limits=(RateLimit(scope="key", limit=80, period=1.0),),
    docs="https://developers.facebook.com/docs/whatsapp/cloud-api",
    idempotency_keys=False,  # /messages has no idempotency key: a repeat is a second message
)
CREDENTIALS = (
    CredentialField(
        "access_token",
        pattern=r"[A-Za-z0-9_.-]{20,1024}",
        expected="a system-user access token with whatsapp_business_messaging (EAA…)",
    ),
    CredentialField(
        "phone_number_id",
        pattern=r"[0-9]{5,20}",
        expected="the sending number's Graph id (digits; not the phone number itself)",
        secret=False,
    ),
    CredentialField(
        "app_secret",
        pattern=r"[A-Za-z0-9]{16,128}",
        expected="the Meta app secret (App Dashboard → Settings → Basic), the webhook HMAC key",
    ),
)

# code -> (what to do, why in words). Facts as data; `classify` reads it.
RATE_LIMITED, RETRY, REJECT, CONFIG, AUTH = "rate", "retry", "reject", "config", "auth"
ERROR_CODES: dict[int, tuple[str, str]] = {
    131047: (REJECT, "outside the 24-hour customer-service window: only templates may be sent"),
    130429: (RATE_LIMITED, "throughput of the business number exceeded"),
    131056: (RETRY, "pair rate limit: too many messages to this customer in a short time"),
    131048: (REJECT, "spam rate limit hit (quality)"),
    131049: (REJECT, "marketing message not delivered (per-user marketing cap)"),
    131026: (REJECT, "message undeliverable (not a WhatsApp user or an old app)"),
    4: (RATE_LIMITED, "app API call rate limit"),
    80007: (RATE_LIMITED, "WABA API call rate limit"),
    100: (REJECT, "invalid parameter"),
    190: (AUTH, "access token expired or invalid"),
    131000: (RETRY, "something went wrong at WhatsApp"),
    132000: (REJECT, "template parameter count mismatch"),
    132001: (REJECT, "template does not exist"),
    368: (CONFIG, "temporarily blocked for policy violations"),
}
PAIR_RATE_WAIT = 6.0  # ~1 message per 6 s to one customer
RE_ENGAGEMENT = 131047  # free-form message outside the customer-service window
_NAME = SPEC.name


class ServiceWindowClosedError(RejectedError):
    """WhatsApp refused a free-form message: the customer last wrote more than 24 hours ago
    (131047). Only a template can reach them now."""


def describe_error(error: dict[str, Any]) -> tuple[int | None, str]:
    """The code and a one-line reason of a Graph error object (sync or in a status webhook)."""
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    message = details or error.get("message") or error.get("title") or "no description"
    known = ERROR_CODES.get(code or -1)
    prefix = f"({code}) {known[1]}: " if known else (f"({code}) " if code else "")
    return code, f"{prefix}{message}"


def classify(response: RawResponse) -> Any:
    """The body of a successful call, or the typed error the Graph envelope describes."""
    body = response.json()
    if response.status < 300 and isinstance(body, dict) and "error" not in body:
        return body
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        if response.status >= 500:
            raise RetryableError("non-JSON server error", platform=_NAME, status=response.status)
        raise RejectedError("response is not a Graph API envelope", platform=_NAME)
    code, reason = describe_error(error)
    action = ERROR_CODES.get(code or -1, (None, ""))[0]
    status = response.status
    if action == RATE_LIMITED:
        raise RateLimitedError(reason, platform=_NAME, status=status)
    if action == RETRY:
        wait = PAIR_RATE_WAIT if code == 131056 else None
        raise RetryableError(reason, platform=_NAME, status=status, retry_after=wait)
    if action == AUTH or status == 401:
        raise AuthenticationError(reason, platform=_NAME, status=status)
    if action == CONFIG or status == 403:
        raise ConfigurationError(reason, platform=_NAME, status=status)
    if code == RE_ENGAGEMENT:
        raise ServiceWindowClosedError(reason, platform=_NAME, status=status)
    if action == REJECT:
        raise RejectedError(reason, platform=_NAME, status=status)
    if status >= 500 or error.get("is_transient") is True:
        raise RetryableError(reason, platform=_NAME, status=status)
    raise RejectedError(reason, platform=_NAME, status=status)
