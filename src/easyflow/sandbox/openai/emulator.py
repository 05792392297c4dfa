"""OpenAI API emulator (https://platform.openai.com/docs/api-reference):
`POST /v1/chat/completions` (plain and SSE stream), `POST /v1/responses` (object and
named-event stream), `GET /v1/models`.

Bearer auth against the registered keys (401 `invalid_api_key` otherwise); replies come from
a scripted FIFO (text, or a function call when the request offers that tool), else a
deterministic echo of the last user message; usage is counted as ceil(chars / 4) per message.
Unknown models are 404 `model_not_found`, as the real API answers them; chat completions
check what the model family accepts, tool messages, `response_format` and `n`
(`chat`). Every response carries `x-request-id`, authenticated ones the
`x-ratelimit-*` headers of a per-key, per-minute budget that is also enforced with a real 429.
Every request is recorded (body included) so tests can assert what the hub sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from easyflow.sandbox.chat_kit import ChatEmulator, bearer, json_response, sse
from easyflow.sandbox.faults import stall
from easyflow.sandbox.openai.chat import (
    ScriptedToolCall,
    check_request,
    formatted,
    input_items,
    last_user_text,
    messages_of,
    offered,
    tool_call_message,
    truncate,
)
from easyflow.sandbox.openai.control import router
from easyflow.sandbox.openai.limits import Budget, fault_response
from easyflow.sandbox.openai.wire import (
    OpenAIError,
    Usage,
    chat_chunks,
    chat_completion,
    content_text,
    response_events,
    response_object,
    tokens,
)

_OPERATIONS = {
    ("POST", "/v1/chat/completions"): "chat.completions",
    ("POST", "/v1/responses"): "responses",
    ("GET", "/v1/models"): "models",
}


@dataclass
class OpenAIConfig:
    """Seeds and tunables of the OpenAI emulator."""

    api_keys: Sequence[str] = ()
    models: tuple[str, ...] = (
        "gpt-4.1-mini",
        "gpt-4.1",
        "gpt-4.1-nano",
        "gpt-4o-mini",
        "gpt-4o",
        "o4-mini",
        "o3",
        "o3-mini",
        "o1",
        "gpt-5",
        "gpt-5-mini",
        "gpt-5-nano",
        "gpt-5-chat-latest",
    )
    strict_models: bool = True  # unknown model -> 404 model_not_found, as the real API
    requests_per_minute: int = 10_000
    tokens_per_minute: int = 2_000_000
    organization: str = "org-sandbox"
    echo_prefix: str = "Sandbox reply to: "


@dataclass
class RecordedRequest:
    seq: int
    method: str
    path: str
    api_key: str | None
    body: Any
    status: int
    request_id: str
    retry_count: str | None
    idempotency_key: str | None
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Call:
    method: str
    path: str
    key: str | None
    raw: bytes
    request_id: str
    retry_count: str | None = None
    idempotency_key: str | None = None
    body: Any = field(default=None)


class OpenAISandbox(ChatEmulator[OpenAIConfig, ScriptedToolCall, RecordedRequest]):
    """The emulator: API app, scenario API (keys, scripted replies) and request log."""

    slug = "openai"
    call_type = ScriptedToolCall
    # PUT and DELETE reach the endpoint so they get the API's own 404, not Starlette's 405.
    methods = ("GET", "POST", "PUT", "DELETE")

    def control_router(self) -> APIRouter:
        return router(self)

    # -- scenario API ----------------------------------------------------------------------

    def add_key(self, key: str) -> None:
        self._keys.add(key)

    def keys(self) -> list[str]:
        return sorted(self._keys)

    def script_tool_call(self, name: str, **arguments: Any) -> int:
        return self.script([ScriptedToolCall(name, arguments)])

    def _init_state(self) -> None:
        super()._init_state()
        self._keys = set(self.config.api_keys)
        self._budgets: dict[str, Budget] = {}

    # -- the API endpoint ------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        started = time.monotonic()
        call = _Call(
            request.method,
            "/" + request.path_params["path"],
            bearer(request),
            await request.body(),
            self._new_id("req_", 32),
            request.headers.get("x-stainless-retry-count"),
            request.headers.get("idempotency-key"),
        )
        operation = _OPERATIONS.get((call.method, call.path))
        if call.method == "GET" and call.path.startswith("/v1/models/"):
            operation = "models.retrieve"
        fault = await stall(self._ctx.faults.pick(self.slug, operation, call.path))
        if fault is not None:
            response = fault_response(fault)
        else:
            try:
                response = await self._handle(operation, call)
            except OpenAIError as error:
                response = error.response()
        self._stamp(response, call, started)
        self._record(call, response.status_code)
        return response

    async def _handle(self, operation: str | None, call: _Call) -> Response:
        if operation is None:
            raise OpenAIError(404, f"Invalid URL ({call.method} {call.path})")
        self._authenticate(call.key)
        self._budget(call.key).admit(self._ctx.clock(), self.config.organization)
        if operation == "models":
            models = [_model(m) for m in self.config.models]
            return json_response({"object": "list", "data": models})
        if operation == "models.retrieve":
            return json_response(_model(self._model(call.path.removeprefix("/v1/models/"))))
        call.body = _json_body(call.raw)
        if operation == "chat.completions":
            return self._chat(call)
        return self._responses(call)

    def _chat(self, call: _Call) -> Response:
        body = call.body
        model = self._model(body.get("model"))
        messages = messages_of(body)
        n = check_request(model, body, messages)
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        prompt = sum(tokens(content_text(m.get("content"))) for m in messages)
        cid, created = self._new_id("chatcmpl-", 24), int(self._ctx.clock())
        scripted = self._next_scripted(body)
        if isinstance(scripted, ScriptedToolCall):
            message = tool_call_message(self._new_id("call_", 24), scripted)
            usage = Usage(prompt, tokens(message["tool_calls"][0]["function"]["arguments"]))
            self._budget(call.key).spend(usage.total)
            result = chat_completion(cid, created, model, "", "tool_calls", usage)
            result["choices"][0]["message"] = message
            return json_response(result)
        text = scripted if scripted is not None else self._echo(last_user_text(messages))
        text = formatted(text, body.get("response_format"))
        reply, finish = truncate(text, limit)
        usage = Usage(prompt, tokens(reply) * n)
        self._budget(call.key).spend(usage.total)
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            return sse(chat_chunks(cid, created, model, reply, finish, usage, include))
        result = chat_completion(cid, created, model, reply, finish, usage)
        [choice] = result["choices"]
        result["choices"] = [{**choice, "index": i} for i in range(n)]
        return json_response(result)

    def _responses(self, call: _Call) -> Response:
        body = call.body
        model = self._model(body.get("model"))
        items = input_items(body.get("input"))
        prompt = content_text(body.get("instructions")) + "".join(
            content_text(i.get("content")) for i in items
        )
        reply, _ = truncate(self._reply(last_user_text(items)), body.get("max_output_tokens"))
        usage = Usage(tokens(prompt), tokens(reply))
        self._budget(call.key).spend(usage.total)
        rid, mid = self._new_id("resp_", 32), self._new_id("msg_", 32)
        created = int(self._ctx.clock())
        if body.get("stream"):
            return sse(response_events(rid, mid, created, model, reply, usage, body))
        return json_response(response_object(rid, mid, created, model, reply, usage, body))

    # -- helpers ---------------------------------------------------------------------------

    def _authenticate(self, key: str | None) -> None:
        if key is None:
            raise OpenAIError(
                401,
                "You didn't provide an API key. You need to provide your API "
                "key in an Authorization header using Bearer auth (i.e. "
                "Authorization: Bearer YOUR_KEY).",
                code="invalid_api_key",
            )
        if key not in self._keys:
            shown = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
            raise OpenAIError(
                401,
                f"Incorrect API key provided: {shown}. You can find your API "
                "key at https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _budget(self, key: str | None) -> Budget:
        if key not in self._budgets:
            self._budgets[str(key)] = Budget(
                self.config.requests_per_minute, self.config.tokens_per_minute
            )
        return self._budgets[str(key)]

    def _model(self, model: Any) -> str:
        if not isinstance(model, str) or not model:
            raise OpenAIError(400, "you must provide a model parameter")
        if self.config.strict_models and model not in self.config.models:
            raise OpenAIError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        return model

    def _reply(self, last_user_text: str) -> str:
        """The next scripted text (a scripted tool call is skipped: this API has no tools)."""
        while self._replies:
            reply = self._replies.popleft()
            if isinstance(reply, str):
                return reply
        return self._echo(last_user_text)

    def _offers(self, body: dict[str, Any], tool: str) -> bool:
        return offered(body, tool)

    def _echo(self, last_user_text: str) -> str:
        return f"{self.config.echo_prefix}{last_user_text}"

    def _stamp(self, response: Response, call: _Call, started: float) -> None:
        headers = response.headers
        headers["x-request-id"] = call.request_id
        headers["openai-version"] = "2020-10-01"
        headers["openai-organization"] = self.config.organization
        headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
        if call.key in self._keys:
            for name, value in self._budget(call.key).headers(self._ctx.clock()).items():
                headers.setdefault(name, value)

    def _record(self, call: _Call, status: int) -> None:
        body = call.body if call.body is not None else _try_json(call.raw)
        self._requests.append(
            RecordedRequest(
                len(self._requests) + 1,
                call.method,
                call.path,
                call.key,
                body,
                status,
                call.request_id,
                call.retry_count,
                call.idempotency_key,
                self._ctx.clock(),
            )
        )


def _try_json(raw: bytes) -> Any:
    try:
        return _json_body(raw)
    except OpenAIError:
        return raw.decode(errors="replace") or None


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise OpenAIError(
            400,
            "We could not parse the JSON body of your request. (HINT: This "
            "likely means you aren't using your HTTP library correctly. The "
            "OpenAI API expects a JSON payload, but what was sent was not "
            "valid JSON.)",
        )
    return body


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 1_700_000_000, "owned_by": "system"}
