"""OpenAI wire shapes: the error envelope, chat completions,
stream chunks, Responses objects and their named stream events, and token accounting.

Token counts are deterministic, not tiktoken's: ceil(characters / 4) per message content.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from easyflow.sandbox.base import dumps
from easyflow.sandbox.chat_kit import pieces

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
FINGERPRINT = "fp_sandbox0"


class OpenAIError(Exception):
    """An API failure rendered as `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = (
            status,
            message,
            type_,
            code,
            param,
        )
        self.headers = headers or {}

    def response(self) -> Response:
        body = {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }
        return Response(
            dumps(body),
            status_code=self.status,
            media_type="application/json",
            headers=self.headers,
        )


@dataclass(frozen=True)
class Usage:
    prompt: int
    completion: int

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    def chat(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.total,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def responses(self) -> dict[str, Any]:
        return {
            "input_tokens": self.prompt,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": self.completion,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": self.total,
        }


def tokens(text: str) -> int:
    return math.ceil(len(text) / 4)


def content_text(content: Any) -> str:
    """A message's text, whether `content` is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def chat_completion(
    cid: str, created: int, model: str, reply: str, finish: str, usage: Usage
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply,
        "refusal": None,
        "annotations": [],
    }
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": FINGERPRINT,
        "service_tier": "default",
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None, "message": message}],
        "usage": usage.chat(),
    }


def chat_chunks(
    cid: str, created: int, model: str, reply: str, finish: str, usage: Usage, include_usage: bool
) -> Iterator[bytes]:
    """The SSE byte stream of a streamed chat completion, `[DONE]` included."""

    def chunk(choices: list[dict[str, Any]], usage_value: Any = None) -> bytes:
        body: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
        }
        if include_usage:
            body["usage"] = usage_value
        return b"data: " + dumps(body) + b"\n\n"

    def choice(delta: dict[str, Any], reason: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "finish_reason": reason}]

    yield chunk(choice({"role": "assistant", "content": ""}))
    for piece in pieces(reply):
        yield chunk(choice({"content": piece}))
    yield chunk(choice({}, finish))
    if include_usage:
        yield chunk([], {k: v for k, v in usage.chat().items() if k.endswith("_tokens")})
    yield b"data: [DONE]\n\n"


def response_object(
    rid: str,
    mid: str,
    created: int,
    model: str,
    reply: str,
    usage: Usage | None,
    request: dict[str, Any],
) -> dict[str, Any]:
    """A Responses API object; `usage=None` renders it still in progress."""
    done = usage is not None
    output = [message_item(mid, reply, done)] if done else []
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": "completed" if done else "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": request.get("previous_response_id"),
        "temperature": request.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": request.get("top_p", 1.0),
        "usage": usage.responses() if usage else None,
    }


def message_item(mid: str, text: str, done: bool = True) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if done else []
    return {
        "type": "message",
        "id": mid,
        "status": "completed" if done else "in_progress",
        "role": "assistant",
        "content": content,
    }


def response_events(
    rid: str, mid: str, created: int, model: str, reply: str, usage: Usage, request: dict[str, Any]
) -> Iterator[bytes]:
    """Named SSE events of a streamed response, ending with `response.completed`."""
    start = response_object(rid, mid, created, model, reply, None, request)
    final = response_object(rid, mid, created, model, reply, usage, request)
    part = {"type": "output_text", "text": "", "annotations": []}
    where = {"item_id": mid, "output_index": 0, "content_index": 0}
    events: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": start}),
        ("response.in_progress", {"response": start}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": message_item(mid, "", done=False)},
        ),
        ("response.content_part.added", {**where, "part": part}),
        *[("response.output_text.delta", {**where, "delta": p}) for p in pieces(reply)],
        ("response.output_text.done", {**where, "text": reply}),
        ("response.content_part.done", {**where, "part": {**part, "text": reply}}),
        ("response.output_item.done", {"output_index": 0, "item": message_item(mid, reply)}),
        ("response.completed", {"response": final}),
    ]
    for seq, (name, data) in enumerate(events):
        body = {"type": name, "sequence_number": seq, **data}
        yield f"event: {name}\ndata: ".encode() + dumps(body) + b"\n\n"
