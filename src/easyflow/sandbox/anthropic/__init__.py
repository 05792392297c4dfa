"""Anthropic Messages API emulator (docs/ai.md): `POST /v1/messages` (plain and SSE stream),
`POST /v1/messages/count_tokens`, `GET /v1/models[/{id}]`.

Checks what the API checks: the key (`x-api-key`, or `Authorization: Bearer` as the 2.x SDKs
send it) against registered keys (401 `authentication_error`), the `anthropic-version`
header, `model`/`max_tokens`/`messages`, no `system` role inside `messages`, and that every
`tool_result` answers a `tool_use` of the previous assistant turn. Replies come from a
scripted FIFO (text, or a `tool_use` when the request offers that tool), else an echo of the
last user text. Every response carries `request-id` and the `anthropic-ratelimit-*` headers
of a per-key, per-minute budget that is enforced with a real 429 and `retry-after`. Faults
render in the API's envelope: an `http_error` with status 529 is `overloaded_error`; with
`code="mid_stream"` a streamed request gets its 200 and then an `error` event after the first
delta.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from easyflow.sandbox.anthropic.checks import check_messages
from easyflow.sandbox.anthropic.wire import (
    TYPE_OF_STATUS,
    AnthropicError,
    message,
    stream_events,
    text_of,
    tokens,
    usage,
)
from easyflow.sandbox.base import SandboxContext, dumps, whole_seconds
from easyflow.sandbox.faults import Fault, stall

# 2023-06-01 is what the API documents and the hub sends; the 2.x SDKs pin a newer date.
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")
WINDOW = 60.0


@dataclass
class AnthropicConfig:
    api_keys: Sequence[str] = ()
    models: tuple[str, ...] = (
        "claude-haiku-4-5",
        "claude-sonnet-4-5",
        "claude-sonnet-4-6",
        "claude-opus-4-6",
        "claude-opus-4-7",
        "claude-opus-4-8",
    )
    requests_per_minute: int = 4000
    echo_prefix: str = "Sandbox reply to: "


@dataclass(frozen=True)
class ToolUse:
    """A scripted reply that calls a tool: `name(input)`."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    seq: int
    method: str
    path: str
    api_key: str | None
    version: str | None
    body: Any
    status: int
    request_id: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AnthropicSandbox:
    slug = "anthropic"

    def __init__(self, config: AnthropicConfig, ctx: SandboxContext) -> None:
        self.config = config
        self._ctx = ctx
        self._app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=["GET", "POST"])]
        )
        self._init_state()

    @property
    def app(self) -> Starlette:
        return self._app

    def control_router(self) -> APIRouter:
        return _router(self)

    # -- scenario API

    def add_key(self, key: str) -> None:
        self._keys.add(key)

    def script(self, replies: Iterable[str | ToolUse]) -> int:
        self._replies.extend(replies)
        return len(self._replies)

    def script_tool_use(self, name: str, **input_: Any) -> int:
        return self.script([ToolUse(name, input_)])

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        return [r for r in self._requests if path is None or r.path == path]

    def busy(self) -> bool:
        return False

    async def reset(self) -> None:
        self._init_state()

    async def aclose(self) -> None:
        return None

    def _init_state(self) -> None:
        self._keys = set(self.config.api_keys)
        self._replies: deque[str | ToolUse] = deque()
        self._requests: list[RecordedRequest] = []
        self._windows: dict[str, tuple[float, int]] = {}
        self._ids = itertools.count(1)

    # -- the API

    async def _endpoint(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        key = request.headers.get("x-api-key") or _bearer(request)
        version = request.headers.get("anthropic-version")
        request_id = self._new_id("req_011C", 20)
        raw = await request.body()
        body = _try_json(raw)
        operation = _operation(request.method, path)
        fault = await stall(self._ctx.faults.pick(self.slug, operation, path))
        mid_stream = None
        try:
            if fault is not None and _is_mid_stream(fault, body):
                mid_stream = _fault_error(fault)
            elif fault is not None:
                response = _fault_response(fault, request_id)
                raise _Rendered(response)
            response = self._handle(operation, path, key, version, body, mid_stream)
        except _Rendered as rendered:
            response = rendered.response
        except AnthropicError as error:
            response = error.response(request_id)
        response.headers["request-id"] = request_id
        if key in self._keys:
            for name, value in self._limit_headers(key).items():
                response.headers.setdefault(name, value)
        self._requests.append(
            RecordedRequest(
                len(self._requests) + 1,
                request.method,
                path,
                key,
                version,
                body,
                response.status_code,
                request_id,
            )
        )
        return response

    def _handle(
        self,
        operation: str | None,
        path: str,
        key: str | None,
        version: str | None,
        body: Any,
        mid_stream: AnthropicError | None,
    ) -> Response:
        if operation is None:
            raise AnthropicError("not_found_error", "Not Found")
        self._authenticate(key, version)
        self._admit(str(key))
        if operation == "models.list":
            return _json({"data": [_model(m) for m in self.config.models], "has_more": False})
        if operation == "models.retrieve":
            return _json(_model(self._model(path.removeprefix("/v1/models/"))))
        if not isinstance(body, dict):
            raise AnthropicError("invalid_request_error", "Request body is not valid JSON")
        self._model(body.get("model"))
        check_messages(body, count_only=operation == "count_tokens")
        prompt = tokens(body.get("system")) + sum(
            tokens(m.get("content")) for m in body["messages"]
        )
        if operation == "count_tokens":
            return _json({"input_tokens": prompt})
        return self._message(body, prompt, mid_stream)

    def _message(
        self, body: dict[str, Any], prompt: int, mid_stream: AnthropicError | None
    ) -> Response:
        model, mid = str(body["model"]), self._new_id("msg_01", 22)
        scripted = self._next(body)
        if isinstance(scripted, ToolUse):
            block = {
                "type": "tool_use",
                "id": self._new_id("toolu_01", 22),
                "name": scripted.name,
                "input": scripted.input,
            }
            used = usage(prompt, tokens([block]))
            return _json(message(mid, model, [block], "tool_use", used))
        text = scripted if scripted is not None else self._echo(body["messages"])
        stop = "end_turn"
        limit = body["max_tokens"]
        if tokens(text) > limit:
            text, stop = text[: limit * 4], "max_tokens"
        if body.get("stream"):
            return _sse(stream_events(mid, model, text, stop, prompt, mid_stream))
        used = usage(prompt, tokens(text))
        return _json(message(mid, model, [{"type": "text", "text": text}], stop, used))

    def _authenticate(self, key: str | None, version: str | None) -> None:
        if not key or key not in self._keys:
            raise AnthropicError("authentication_error", "invalid x-api-key")
        if not version:
            raise AnthropicError("invalid_request_error", "anthropic-version: header is required")
        if version not in VERSIONS:
            raise AnthropicError(
                "invalid_request_error", f"anthropic-version: invalid version {version!r}"
            )

    def _model(self, model: Any) -> str:
        if not isinstance(model, str) or not model:
            raise AnthropicError("invalid_request_error", "model: Field required")
        if model not in self.config.models:
            raise AnthropicError("not_found_error", f"model: {model}")
        return model

    def _admit(self, key: str) -> None:
        now = self._ctx.clock()
        start, count = self._windows.get(key, (now, 0))
        if now >= start + WINDOW:
            start, count = now, 0
        if count >= self.config.requests_per_minute:
            wait = start + WINDOW - now
            raise AnthropicError(
                "rate_limit_error",
                "This request would exceed your organization's rate limit of "
                f"{self.config.requests_per_minute} requests per minute.",
                headers={"retry-after": str(whole_seconds(wait))},
            )
        self._windows[key] = (start, count + 1)

    def _limit_headers(self, key: str) -> dict[str, str]:
        now = self._ctx.clock()
        start, count = self._windows.get(key, (now, 0))
        reset = datetime.fromtimestamp(start + WINDOW, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        limit = self.config.requests_per_minute
        return {
            "anthropic-ratelimit-requests-limit": str(limit),
            "anthropic-ratelimit-requests-remaining": str(max(0, limit - count)),
            "anthropic-ratelimit-requests-reset": reset,
        }

    def _next(self, body: dict[str, Any]) -> str | ToolUse | None:
        if not self._replies:
            return None
        head = self._replies[0]
        names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
        if isinstance(head, ToolUse) and head.name not in names:
            return None
        return self._replies.popleft()

    def _echo(self, messages: list[dict[str, Any]]) -> str:
        users = [m for m in messages if m.get("role") == "user"]
        texts = [
            b.get("text", "")
            for b in _blocks(users[-1].get("content") if users else "")
            if b.get("type") == "text"
        ]
        return self.config.echo_prefix + "".join(texts)

    def _new_id(self, prefix: str, length: int) -> str:
        digest = hashlib.sha256(f"{prefix}{next(self._ids)}".encode()).hexdigest()
        return prefix + digest[:length]


class _Rendered(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _bearer(request: Request) -> str | None:
    """The key as the 2.x SDKs send it: `Authorization: Bearer <key>`."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _operation(method: str, path: str) -> str | None:
    if method == "POST" and path == "/v1/messages":
        return "messages"
    if method == "POST" and path == "/v1/messages/count_tokens":
        return "count_tokens"
    if method == "GET" and path == "/v1/models":
        return "models.list"
    if method == "GET" and path.startswith("/v1/models/"):
        return "models.retrieve"
    return None


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content or [] if isinstance(b, dict)]


def _is_mid_stream(fault: Fault, body: Any) -> bool:
    streaming = isinstance(body, dict) and bool(body.get("stream"))
    return fault.kind == "http_error" and fault.spec.code == "mid_stream" and streaming


def _fault_error(fault: Fault) -> AnthropicError:
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


def _fault_response(fault: Fault, request_id: str) -> Response:
    if fault.kind == "malformed":
        return Response(b'{"id":"msg_01malformed","type":"message","content":[{"ty', 200)
    error = _fault_error(fault)
    if fault.spec.should_retry is not None:
        error.headers["x-should-retry"] = "true" if fault.spec.should_retry else "false"
    return error.response(request_id)


def _model(model_id: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": model_id.replace("-", " ").title(),
        "created_at": "2025-10-01T00:00:00Z",
    }


def _json(body: Any) -> Response:
    return Response(dumps(body), media_type="application/json")


def _sse(chunks: Iterator[bytes]) -> StreamingResponse:
    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return StreamingResponse(stream(), media_type="text/event-stream; charset=utf-8")


def _try_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


class _KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1)


class _RepliesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    replies: list[str] = Field(min_length=1)


class _ToolUseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)


def _router(emulator: AnthropicSandbox) -> APIRouter:
    """Control routes, mounted at `/_sandbox/anthropic`."""
    api = APIRouter(tags=["sandbox: anthropic"])

    @api.post("/keys", status_code=201)
    async def add_key(body: _KeyIn) -> dict[str, Any]:
        emulator.add_key(body.key)
        return {"keys": sorted(emulator._keys)}

    @api.post("/replies", status_code=201)
    async def script(body: _RepliesIn) -> dict[str, Any]:
        return {"queued": emulator.script(body.replies)}

    @api.post("/tool-uses", status_code=201)
    async def script_tool_use(body: _ToolUseIn) -> dict[str, Any]:
        return {"queued": emulator.script_tool_use(body.name, **body.input)}

    @api.get("/requests")
    async def requests(path: str | None = None) -> dict[str, Any]:
        return {"requests": [r.to_dict() for r in emulator.requests(path)]}

    return api


__all__ = ["AnthropicConfig", "AnthropicSandbox", "ToolUse", "text_of"]
