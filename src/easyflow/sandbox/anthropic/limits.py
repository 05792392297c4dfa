"""One API key's per-minute budget of requests and tokens, as the Messages API reports it:
`anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`
(reset an RFC 3339 time) on every answer, and 429 `rate_limit_error` with `retry-after` once
a budget is spent."""

from __future__ import annotations

from datetime import UTC, datetime

from easyflow.sandbox.anthropic.wire import AnthropicError
from easyflow.sandbox.base import whole_seconds

WINDOW = 60.0


class Budget:
    def __init__(self, requests_per_minute: int, tokens_per_minute: int) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self._start: float | None = None
        self._requests = self._input = self._output = 0

    def admit(self, now: float) -> None:
        """Count one request, or raise the 429 when the minute's requests or tokens are spent."""
        self._roll(now)
        wait = whole_seconds((self._start or now) + WINDOW - now)
        if self._requests >= self.rpm:
            raise _limited(f"{self.rpm} requests per minute", wait)
        if self._input + self._output >= self.tpm:
            raise _limited(f"{self.tpm} tokens per minute", wait)
        self._requests += 1

    def spend(self, input_tokens: int, output_tokens: int) -> None:
        self._input += input_tokens
        self._output += output_tokens

    def headers(self, now: float) -> dict[str, str]:
        self._roll(now)
        start = self._start if self._start is not None else now
        reset = datetime.fromtimestamp(start + WINDOW, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        used = {
            "requests": (self.rpm, self._requests),
            "tokens": (self.tpm, self._input + self._output),
            "input-tokens": (self.tpm, self._input),
            "output-tokens": (self.tpm, self._output),
        }
        headers: dict[str, str] = {}
        for name, (limit, spent) in used.items():
            prefix = f"anthropic-ratelimit-{name}"
            headers[f"{prefix}-limit"] = str(limit)
            headers[f"{prefix}-remaining"] = str(max(0, limit - spent))
            headers[f"{prefix}-reset"] = reset
        return headers

    def _roll(self, now: float) -> None:
        if self._start is None or now >= self._start + WINDOW:
            self._start, self._requests, self._input, self._output = now, 0, 0, 0


def _limited(what: str, wait: int) -> AnthropicError:
    return AnthropicError(
        "rate_limit_error",
        f"This request would exceed your organization's rate limit of {what}.",
        headers={"retry-after": str(wait)},
    )
