"""OpenAI rate limits and injected faults, as the API signals them.

`Budget` is one key's per-minute window of requests and tokens: it feeds the
`x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers and raises the transient 429
(`rate_limit_exceeded`, with `retry-after` and `retry-after-ms`) when spent. `fault_response`
renders an injected fault in OpenAI's error envelope, including the billing 429
(`insufficient_quota`) that must not be retried and the `x-should-retry` header on demand.
"""

from __future__ import annotations

import math
from http import HTTPStatus

from starlette.responses import Response

from easyflow.sandbox.base import whole_seconds
from easyflow.sandbox.faults import Fault
from easyflow.sandbox.openai.wire import OpenAIError

WINDOW = 60.0
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For "
    "more information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_DEFAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to perform this request.", "invalid_request_error", None),
    404: (
        "The model does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        "server_error",
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_MALFORMED_BODY = b'{"id":"chatcmpl-malformed","object":"chat.completion","choices":[{"mess'


def duration(seconds: float) -> str:
    """OpenAI's reset notation: `12ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s"


def retry_headers(seconds: float) -> dict[str, str]:
    return {
        "retry-after": str(whole_seconds(seconds)),
        "retry-after-ms": str(max(1, math.ceil(seconds * 1000))),
    }


def rate_limited(
    seconds: float, model: str, organization: str, unit: str, limit: int, used: int
) -> OpenAIError:
    kind = "tokens" if unit == "TPM" else "requests"
    message = (
        f"Rate limit reached for {model} in organization {organization} on {kind} per "
        f"min ({unit}): Limit {limit}, Used {used}, Requested 1. Please try again in "
        f"{duration(seconds)}."
    )
    return OpenAIError(429, message, kind, "rate_limit_exceeded", headers=retry_headers(seconds))


class Budget:
    """One API key's requests and tokens in the current minute."""

    def __init__(self, requests_per_minute: int, tokens_per_minute: int) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self._start: float | None = None
        self._requests = 0
        self._tokens = 0

    def admit(self, now: float, organization: str) -> None:
        """Count one request, or raise the transient 429 when the minute's budget is spent."""
        self._roll(now)
        wait = self._start + WINDOW - now if self._start is not None else WINDOW
        if self._requests >= self.rpm:
            raise rate_limited(wait, "all models", organization, "RPM", self.rpm, self._requests)
        if self._tokens >= self.tpm:
            raise rate_limited(wait, "all models", organization, "TPM", self.tpm, self._tokens)
        self._requests += 1

    def spend(self, tokens: int) -> None:
        self._tokens += tokens

    def headers(self, now: float) -> dict[str, str]:
        self._roll(now)
        reset = duration(self._start + WINDOW - now) if self._start is not None else "0ms"
        return {
            "x-ratelimit-limit-requests": str(self.rpm),
            "x-ratelimit-limit-tokens": str(self.tpm),
            "x-ratelimit-remaining-requests": str(max(0, self.rpm - self._requests)),
            "x-ratelimit-remaining-tokens": str(max(0, self.tpm - self._tokens)),
            "x-ratelimit-reset-requests": reset,
            "x-ratelimit-reset-tokens": reset,
        }

    def _roll(self, now: float) -> None:
        if self._start is None or now >= self._start + WINDOW:
            self._start, self._requests, self._tokens = now, 0, 0


def fault_response(fault: Fault) -> Response:
    spec = fault.spec
    if fault.kind == "malformed":
        return Response(_MALFORMED_BODY, media_type="application/json")
    if fault.kind == "rate_limit":
        error = _rate_limit_fault(fault)
    elif fault.kind == "timeout":
        error = OpenAIError(504, spec.message or "Gateway timeout.", "server_error", spec.code)
    else:
        message, type_, code = _status_default(spec.status)
        error = OpenAIError(spec.status, spec.message or message, type_, spec.code or code)
    if spec.should_retry is not None:
        error.headers["x-should-retry"] = "true" if spec.should_retry else "false"
    return error.response()


def _status_default(status: int) -> tuple[str, str, str | None]:
    if status in _DEFAULTS:
        return _DEFAULTS[status]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"{phrase}.", "server_error" if status >= 500 else "invalid_request_error", None


def _rate_limit_fault(fault: Fault) -> OpenAIError:
    spec = fault.spec
    if spec.code == "insufficient_quota":
        # Billing, not pace: no retry hint unless the rule asks for one.
        headers = retry_headers(spec.retry_after) if spec.retry_after else {}
        return OpenAIError(
            429, spec.message or _QUOTA, "insufficient_quota", "insufficient_quota", headers=headers
        )
    seconds = spec.retry_after or 1.0
    error = rate_limited(seconds, "gpt-4.1-mini", "org-sandbox", "TPM", 200_000, 199_500)
    error.code = spec.code or error.code
    if spec.message:
        error.message = spec.message
    error.headers.update(
        {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": duration(seconds)}
    )
    return error
