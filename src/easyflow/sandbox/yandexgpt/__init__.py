"""YandexGPT emulator (docs/ai.md): `POST /foundationModels/v1/completion`
(plain and cumulative NDJSON stream), `completionAsync` with `GET /operations/{id}`,
`tokenize`.

Auth as the API takes it: `Api-Key <key>` (a key belongs to one folder) or `Bearer <IAM
token>` with `x-folder-id`; the folder in `modelUri` must be the caller's (403 otherwise),
the model must exist (404), messages must carry `text` (or tool lists), never `content`.
The answer is wrapped in `result` with string usage counters; an alternative is
`TRUNCATED_FINAL` when `maxTokens` cuts it and `CONTENT_FILTER` when the prompt holds a
configured trigger word. At most `concurrent_generations` run at once per model: the next is
429 with gRPC code 8 and the quota message. Replies come from a scripted FIFO (text, or a
function call when the request offers that tool), else an echo of the last user text.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from easyflow.sandbox.base import EmulatorSpec, dumps
from easyflow.sandbox.chat_kit import (
    ChatEmulator,
    KeyIn,
    ToolCallIn,
    chat_control_router,
    function_tool_names,
    json_response,
    try_json,
)
from easyflow.sandbox.faults import Fault, stall
from easyflow.sandbox.yandexgpt.checks import Caller, check_completion, parse_model_uri
from easyflow.sandbox.yandexgpt.wire import (
    CONTENT_FILTER,
    FINAL,
    MODEL_VERSION,
    PARTIAL,
    TOOL_CALLS,
    TRUNCATED,
    YandexError,
    alternative,
    completion,
    message_text,
    tokens,
    usage,
)

OPERATION_TTL = 3 * 86_400.0


@dataclass
class YandexGPTConfig:
    api_keys: Mapping[str, str] = field(default_factory=dict)  # API key -> its folder
    iam_tokens: tuple[str, ...] = ()
    models: tuple[str, ...] = ("yandexgpt-lite", "yandexgpt", "yandexgpt-32k")
    concurrent_generations: int = 10  # per model (1 for 32k models in the real quota)
    content_filter_words: tuple[str, ...] = ("sandbox-filtered",)
    echo_prefix: str = "Sandbox reply to: "


@dataclass(frozen=True)
class FunctionCall:
    """A scripted reply that calls a tool."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    seq: int
    method: str
    path: str
    authorization: str | None
    folder_header: str | None
    body: Any
    status: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class YandexGPTSandbox(ChatEmulator[YandexGPTConfig, FunctionCall, RecordedRequest]):
    slug = "yandexgpt"
    call_type = FunctionCall

    def control_router(self) -> APIRouter:
        return _router(self)

    def add_key(self, key: str, folder_id: str) -> None:
        self._keys[key] = folder_id

    def add_iam_token(self, token: str) -> None:
        self._iam.add(token)

    def script_function_call(self, name: str, **arguments: Any) -> int:
        return self.script([FunctionCall(name, arguments)])

    def generating(self, model: str) -> int:
        """Completions of `model` running now (what the concurrency quota counts)."""
        return self._inflight[model]

    def _init_state(self) -> None:
        super()._init_state()
        self._keys: dict[str, str] = dict(self.config.api_keys)
        self._iam: set[str] = set(self.config.iam_tokens)
        self._inflight: defaultdict[str, int] = defaultdict(int)
        self._operations: dict[str, tuple[float, dict[str, Any]]] = {}

    # -- the API

    async def _endpoint(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        raw = await request.body()
        body = try_json(raw)
        try:
            response = await self._route(request, path, raw)
        except YandexError as error:
            response = error.response()
        self._requests.append(
            RecordedRequest(
                len(self._requests) + 1,
                request.method,
                path,
                request.headers.get("authorization"),
                request.headers.get("x-folder-id"),
                body,
                response.status_code,
            )
        )
        return response

    async def _route(self, request: Request, path: str, raw: bytes) -> Response:
        method = request.method
        if method == "GET" and path.startswith("/operations/"):
            self._caller(request)
            return self._operation(path.removeprefix("/operations/"))
        operation = {
            "/foundationModels/v1/completion": "completion",
            "/foundationModels/v1/completionAsync": "completionAsync",
            "/foundationModels/v1/tokenize": "tokenize",
        }.get(path)
        if method != "POST" or operation is None:
            raise YandexError(404, f"Not Found: {method} {path}")
        caller = self._caller(request)
        body = _json_body(raw)
        folder, model = parse_model_uri(body.get("modelUri"), self.config.models)
        caller.check_folder(folder)
        if operation == "tokenize":
            return json_response(_tokenized(str(body.get("text") or "")))
        if self._inflight[model] >= self.config.concurrent_generations:
            raise YandexError(
                429,
                "ai.textGenerationCompletionSessionsCount.count gauge quota limit exceed: "
                f"allowed {self.config.concurrent_generations} requests",
                8,
            )
        self._inflight[model] += 1
        try:
            fault = await stall(self._ctx.faults.pick(self.slug, operation, path))
            if fault is not None:
                return _fault_response(fault)
            result = self._complete(body)
        finally:
            self._inflight[model] -= 1
        if operation == "completionAsync":
            return json_response(self._submit(result, caller))
        if (body.get("completionOptions") or {}).get("stream"):
            return _ndjson(result)
        return json_response({"result": result})

    def _caller(self, request: Request) -> Caller:
        scheme, _, secret = request.headers.get("authorization", "").partition(" ")
        folder_header = request.headers.get("x-folder-id")
        if scheme == "Api-Key" and secret in self._keys:
            return Caller(self._keys[secret], folder_header)
        if scheme == "Bearer" and secret in self._iam:
            return Caller(None, folder_header)
        raise YandexError(401, "Unknown api key or iam token" if secret else "Unauthenticated")

    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        options = check_completion(body)
        messages = body["messages"]
        prompt = sum(tokens(message_text(m)) for m in messages)
        scripted = self._next_scripted(body)
        if isinstance(scripted, FunctionCall):
            calls = {"toolCalls": [{"functionCall": asdict(scripted)}]}
            message = {"role": "assistant", "toolCallList": calls}
            return completion(
                [alternative(message, TOOL_CALLS)], usage(prompt, tokens(json.dumps(calls)))
            )
        texts = " ".join(message_text(m) for m in messages).lower()
        if any(word in texts for word in self.config.content_filter_words):
            return completion(
                [alternative({"role": "assistant", "text": ""}, CONTENT_FILTER)], usage(prompt, 0)
            )
        text = scripted if scripted is not None else self._echo(messages)
        status, limit = FINAL, options.max_tokens
        if limit and tokens(text) > limit:
            text, status = text[: limit * 4], TRUNCATED
        message = {"role": "assistant", "text": text}
        return completion([alternative(message, status)], usage(prompt, tokens(text)))

    def _offers(self, body: dict[str, Any], tool: str) -> bool:
        return tool in function_tool_names(body)

    def _echo(self, messages: list[dict[str, Any]]) -> str:
        users = [m for m in messages if m.get("role") == "user" and "text" in m]
        return self.config.echo_prefix + (str(users[-1]["text"]) if users else "")

    def _submit(self, result: dict[str, Any], caller: Caller) -> dict[str, Any]:
        now = self._ctx.clock()
        op_id = self._new_id("d7q", 17, seed="op")
        self._operations[op_id] = (now, result)
        return _operation_object(op_id, now, None)

    def _operation(self, op_id: str) -> Response:
        stored = self._operations.get(op_id)
        if stored is None or self._ctx.clock() - stored[0] > OPERATION_TTL:
            raise YandexError(404, f"Operation {op_id} not found")
        created, result = stored
        return json_response(_operation_object(op_id, created, result))


def _operation_object(op_id: str, created: float, result: dict[str, Any] | None) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    operation: dict[str, Any] = {
        "id": op_id,
        "description": "Async GPT Completion",
        "createdAt": stamp,
        "createdBy": "ajeSANDBOX",
        "modifiedAt": stamp,
        "done": result is not None,
        "metadata": None,
    }
    if result is not None:
        # Operations carry the payload under `response` with its type, not under `result`.
        type_ = "type.googleapis.com/yandex.cloud.ai.foundation_models.v1.CompletionResponse"
        operation["response"] = {"@type": type_, **result}
    return operation


def _tokenized(text: str) -> dict[str, Any]:
    words = [w for w in text.split(" ") if w]
    tokens_ = [{"id": str(i + 1), "special": False, "text": w} for i, w in enumerate(words)]
    return {"tokens": tokens_, "modelVersion": MODEL_VERSION}


def _fault_response(fault: Fault) -> Response:
    spec = fault.spec
    if fault.kind == "malformed":
        return Response(b'{"result":{"alternatives":[{"mess', 200, media_type="application/json")
    if fault.kind == "rate_limit":
        message = "ai.textGenerationCompletionSessionsCount.count gauge quota limit exceed"
        return YandexError(429, spec.message or message, 8).response()
    if fault.kind == "timeout":
        return YandexError(504, spec.message or "Deadline exceeded", 4).response()
    return YandexError(spec.status, spec.message or "Internal error").response()


def _ndjson(result: dict[str, Any]) -> StreamingResponse:
    """Cumulative chunks, one JSON object a line, no SSE framing and no [DONE]."""
    [final] = result["alternatives"]
    text = str(final["message"].get("text") or "")
    words = text.split(" ")
    lines = []
    for i in range(1, len(words)):
        partial = {"role": "assistant", "text": " ".join(words[:i])}
        lines.append(completion([alternative(partial, PARTIAL)], result["usage"]))
    lines.append(result)

    async def stream() -> AsyncIterator[bytes]:
        for line in lines:
            yield dumps({"result": line}) + b"\n"

    return StreamingResponse(stream(), media_type="application/json")


def _json_body(raw: bytes) -> dict[str, Any]:
    body = try_json(raw)
    if not isinstance(body, dict):
        raise YandexError(400, "invalid JSON in request body")
    return body


class _KeyIn(KeyIn):
    folder_id: str = Field(min_length=1)


def _router(emulator: YandexGPTSandbox) -> APIRouter:
    """Control routes, mounted at `/_sandbox/yandexgpt`."""
    api = chat_control_router(emulator, "yandexgpt")

    @api.post("/keys", status_code=201)
    async def add_key(body: _KeyIn) -> dict[str, Any]:
        emulator.add_key(body.key, body.folder_id)
        return {"folder_id": body.folder_id}

    @api.post("/function-calls", status_code=201)
    async def script_call(body: ToolCallIn) -> dict[str, Any]:
        return {"queued": emulator.script_function_call(body.name, **body.arguments)}

    return api


# Public demo credentials: they only open the sandbox.
DEMO_YANDEXGPT_KEY = "AQVN-sandbox-demo-key-0000000000000000"
DEMO_YANDEXGPT_FOLDER = "b1gsandboxdemo000000"

EMULATOR = EmulatorSpec(
    "yandexgpt",
    YandexGPTConfig,
    YandexGPTSandbox,
    demo=lambda: YandexGPTConfig(api_keys={DEMO_YANDEXGPT_KEY: DEMO_YANDEXGPT_FOLDER}),
    # The folder (a setting, not a credential) is DEMO_YANDEXGPT_FOLDER.
    credentials=lambda _emulator: [{"api_key": DEMO_YANDEXGPT_KEY}],
)
