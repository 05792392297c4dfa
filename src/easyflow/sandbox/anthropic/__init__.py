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

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from easyflow.sandbox.anthropic.checks import check_messages
from easyflow.sandbox.anthropic.control import router
from easyflow.sandbox.anthropic.faults import fault_error, fault_response, is_mid_stream
from easyflow.sandbox.anthropic.limits import Budget
from easyflow.sandbox.anthropic.wire import (
    AnthropicError,
    message,
    stream_events,
    text_of,
    tokens,
    usage,
)
from easyflow.sandbox.base import EmulatorSpec
from easyflow.sandbox.chat_kit import ChatEmulator, bearer, json_response, sse, try_json
from easyflow.sandbox.faults import stall

# 2023-06-01 is what the API documents and the hub sends; the 2.x SDKs pin a newer date.
VERSIONS = ("2023-01-01", "2023-06-01", "2026-10-21")


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
    tokens_per_minute: int = 400_000
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


class AnthropicSandbox(ChatEmulator[AnthropicConfig, ToolUse, RecordedRequest]):
    slug = "anthropic"
    call_type = ToolUse

    def control_router(self) -> APIRouter:
        return router(self)

    # -- scenario API

    def add_key(self, key: str) -> None:
        self._keys.add(key)

    def script_tool_use(self, name: str, **input_: Any) -> int:
        return self.script([ToolUse(name, input_)])

    def keys(self) -> list[str]:
        return sorted(self._keys)

    def _init_state(self) -> None:
        super()._init_state()
        self._keys = set(self.config.api_keys)
        self._budgets: dict[str, Budget] = {}

    # -- the API

    async def _endpoint(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        # The 2.x SDKs send the key as `Authorization: Bearer <key>`.
        key = request.headers.get("x-api-key") or bearer(request)
        version = request.headers.get("anthropic-version")
        request_id = self._new_id("req_011C", 20)
        raw = await request.body()
        body = try_json(raw)
        operation = _operation(request.method, path)
        fault = await stall(self._ctx.faults.pick(self.slug, operation, path))
        mid_stream = None
        try:
            if fault is not None and is_mid_stream(fault, body):
                mid_stream = fault_error(fault)
            elif fault is not None:
                response = fault_response(fault, request_id)
                raise _Rendered(response)
            response = self._handle(operation, path, key, version, body, mid_stream)
        except _Rendered as rendered:
            response = rendered.response
        except AnthropicError as error:
            response = error.response(request_id)
        response.headers["request-id"] = request_id
        if key in self._keys:
            for name, value in self._budget(key).headers(self._ctx.clock()).items():
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
        budget = self._budget(str(key))
        budget.admit(self._ctx.clock())
        if operation == "models.list":
            models = [_model(m) for m in self.config.models]
            return json_response({"data": models, "has_more": False})
        if operation == "models.retrieve":
            return json_response(_model(self._model(path.removeprefix("/v1/models/"))))
        if not isinstance(body, dict):
            raise AnthropicError("invalid_request_error", "Request body is not valid JSON")
        self._model(body.get("model"))
        check_messages(body, count_only=operation == "count_tokens")
        prompt = tokens(body.get("system")) + sum(
            tokens(m.get("content")) for m in body["messages"]
        )
        if operation == "count_tokens":
            return json_response({"input_tokens": prompt})
        response, output = self._message(body, prompt, mid_stream)
        budget.spend(prompt, output)
        return response

    def _message(
        self, body: dict[str, Any], prompt: int, mid_stream: AnthropicError | None
    ) -> tuple[Response, int]:
        """The answer and its output tokens."""
        model, mid = str(body["model"]), self._new_id("msg_01", 22)
        scripted = self._next_scripted(body)
        if isinstance(scripted, ToolUse):
            block = {
                "type": "tool_use",
                "id": self._new_id("toolu_01", 22),
                "name": scripted.name,
                "input": scripted.input,
            }
            used = usage(prompt, tokens([block]))
            return json_response(message(mid, model, [block], "tool_use", used)), tokens([block])
        text = scripted if scripted is not None else self._echo(body["messages"])
        stop = "end_turn"
        limit = body["max_tokens"]
        if tokens(text) > limit:
            text, stop = text[: limit * 4], "max_tokens"
        if body.get("stream"):
            return sse(stream_events(mid, model, text, stop, prompt, mid_stream)), tokens(text)
        used = usage(prompt, tokens(text))
        content = [{"type": "text", "text": text}]
        return json_response(message(mid, model, content, stop, used)), tokens(text)

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

    def _budget(self, key: str) -> Budget:
        if key not in self._budgets:
            config = self.config
            self._budgets[key] = Budget(config.requests_per_minute, config.tokens_per_minute)
        return self._budgets[key]

    def _offers(self, body: dict[str, Any], tool: str) -> bool:
        return tool in {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}

    def _echo(self, messages: list[dict[str, Any]]) -> str:
        users = [m for m in messages if m.get("role") == "user"]
        texts = [
            b.get("text", "")
            for b in _blocks(users[-1].get("content") if users else "")
            if b.get("type") == "text"
        ]
        return self.config.echo_prefix + "".join(texts)


class _Rendered(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


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


def _model(model_id: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": model_id.replace("-", " ").title(),
        "created_at": "2025-10-01T00:00:00Z",
    }


# Public demo credentials: they only open the sandbox.
DEMO_ANTHROPIC_KEY = "sk-ant-sandbox-demo"

EMULATOR = EmulatorSpec(
    "anthropic",
    AnthropicConfig,
    AnthropicSandbox,
    demo=lambda: AnthropicConfig(api_keys=[DEMO_ANTHROPIC_KEY]),
    credentials=lambda _emulator: [{"api_key": DEMO_ANTHROPIC_KEY}],
)

__all__ = [
    "DEMO_ANTHROPIC_KEY",
    "EMULATOR",
    "AnthropicConfig",
    "AnthropicSandbox",
    "ToolUse",
    "text_of",
]
