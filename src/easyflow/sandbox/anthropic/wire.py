"""Anthropic wire shapes (docs/ai.md): the error envelope with its
`request_id`, the message object, and the named SSE events of a streamed message.

Token counts are deterministic: ceil(characters / 4) of every text a request carries.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response

from easyflow.sandbox.base import dumps
from easyflow.sandbox.chat_kit import pieces

# HTTP status of each error type.
STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
TYPE_OF_STATUS = {status: kind for kind, status in STATUS.items()}


class AnthropicError(Exception):
    """`{"type": "error", "error": {"type", "message"}, "request_id"}` with its status."""

    def __init__(self, kind: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = STATUS.get(kind, 500)
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        error = {"type": self.kind, "message": self.message}
        return {"type": "error", "error": error, "request_id": request_id}

    def response(self, request_id: str) -> Response:
        return Response(
            dumps(self.body(request_id)),
            status_code=self.status,
            media_type="application/json",
            headers=self.headers,
        )


def tokens(value: Any) -> int:
    """ceil(chars / 4) of every text in a content value (string or blocks)."""
    return math.ceil(len(text_of(value)) / 4)


def text_of(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_block_text(b) for b in value if isinstance(b, dict))
    return ""


def _block_text(block: dict[str, Any]) -> str:
    if block.get("type") == "tool_use":
        return json.dumps(block.get("input") or {})
    if block.get("type") == "tool_result":
        return text_of(block.get("content"))
    return str(block.get("text") or "")


def usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "service_tier": "standard",
    }


def message(
    mid: str, model: str, content: list[dict[str, Any]], stop: str | None, used: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": used,
    }


def stream_events(
    mid: str,
    model: str,
    text: str,
    stop: str,
    input_tokens: int,
    fail_with: AnthropicError | None = None,
) -> Iterator[bytes]:
    """The SSE events of a streamed text message; `fail_with` cuts it after the first delta
    with an `error` event, as the API does after it has answered 200."""
    start = message(mid, model, [], None, usage(input_tokens, 1))
    yield _event("message_start", {"message": start})
    yield _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    yield _event("ping", {})
    for i, piece in enumerate(pieces(text)):
        delta = {"index": 0, "delta": {"type": "text_delta", "text": piece}}
        yield _event("content_block_delta", delta)
        if fail_with is not None and i == 0:
            yield _event("error", {"error": {"type": fail_with.kind, "message": fail_with.message}})
            return
    yield _event("content_block_stop", {"index": 0})
    output = math.ceil(len(text) / 4)
    yield _event(
        "message_delta",
        {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": output}},
    )
    yield _event("message_stop", {})


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: ".encode() + dumps({"type": name, **data}) + b"\n\n"
