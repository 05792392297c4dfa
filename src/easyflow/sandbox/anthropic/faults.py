"""Injected faults as the Messages API renders failures: 529 `overloaded_error`, 429
`rate_limit_error` with `retry-after`, 504 `timeout_error`, a truncated body, or (a 529 with
`code="mid_stream"` on a streamed request) an `error` event after the 200 was sent."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from easyflow.sandbox.anthropic.wire import TYPE_OF_STATUS, AnthropicError
from easyflow.sandbox.base import whole_seconds
from easyflow.sandbox.faults import Fault


def is_mid_stream(fault: Fault, body: Any) -> bool:
    streaming = isinstance(body, dict) and bool(body.get("stream"))
    return fault.kind == "http_error" and fault.spec.code == "mid_stream" and streaming


def fault_error(fault: Fault) -> AnthropicError:
    spec = fault.spec
    if fault.kind == "rate_limit":
        seconds = spec.retry_after or 1.0
        headers = {"retry-after": str(whole_seconds(seconds))}
        return AnthropicError("rate_limit_error", spec.message or "Rate limited", headers)
    if fault.kind == "timeout":
        return AnthropicError("timeout_error", spec.message or "Request timed out")
    kind = TYPE_OF_STATUS.get(spec.status, "api_error")
    error = AnthropicError(kind, spec.message or _DEFAULT_MESSAGES.get(kind, "Internal error"))
    error.status = spec.status
    return error


_DEFAULT_MESSAGES = {"overloaded_error": "Overloaded", "api_error": "Internal server error"}


def fault_response(fault: Fault, request_id: str) -> Response:
    if fault.kind == "malformed":
        return Response(b'{"id":"msg_01malformed","type":"message","content":[{"ty', 200)
    error = fault_error(fault)
    if fault.spec.should_retry is not None:
        error.headers["x-should-retry"] = "true" if fault.spec.should_retry else "false"
    return error.response(request_id)
