"""What the chat-model emulators (OpenAI, Anthropic, YandexGPT) share: the app that routes
every path to one endpoint, the scripted-reply FIFO, the request log, ids, how a streamed
reply is cut into deltas, and the control routes they have in common (`/replies`,
`/requests`, and `/keys` where a key stands alone).

Only the mechanics live here. What each API checks, how it authenticates, how it shapes an
answer or an error stays in its own emulator: those are the facts the tests are about.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from easyflow.sandbox.base import SandboxContext, dumps


class _Recorded(Protocol):
    """A request as an emulator logs it; each API records the headers it cares about."""

    @property
    def path(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


class _ScriptedCall(Protocol):
    """A scripted reply that calls a tool (each API names its arguments its own way)."""

    @property
    def name(self) -> str: ...


Config = TypeVar("Config")
Call = TypeVar("Call", bound=_ScriptedCall)
Recorded = TypeVar("Recorded", bound=_Recorded)


class ChatEmulator(Generic[Config, Call, Recorded]):
    """Base of a chat-model emulator: one catch-all endpoint, scripted replies served in
    order (text, or a tool call of type `call_type` when the request offers that tool), else
    the emulator's echo; every request recorded so tests can assert what the hub sent."""

    slug: str  # an instance attribute to the server's Emulator protocol
    call_type: ClassVar[type[Any]]
    methods: ClassVar[tuple[str, ...]] = ("GET", "POST")

    def __init__(self, config: Config, ctx: SandboxContext) -> None:
        self.config = config
        self._ctx = ctx
        self._app = Starlette(
            routes=[Route("/{path:path}", self._endpoint, methods=list(self.methods))]
        )
        self._init_state()

    @property
    def app(self) -> Starlette:
        return self._app

    # -- scenario API

    def script(self, replies: Iterable[str | Call]) -> int:
        """Queue replies served in order before falling back to the echo; returns the queue size."""
        self._replies.extend(replies)
        return len(self._replies)

    def requests(self, path: str | None = None) -> list[Recorded]:
        return [r for r in self._requests if path is None or r.path == path]

    # -- lifecycle

    def busy(self) -> bool:
        return False

    async def reset(self) -> None:
        self._init_state()

    async def aclose(self) -> None:
        return None

    def _init_state(self) -> None:
        """Everything a test may have changed; subclasses extend it with their own state."""
        self._replies: deque[str | Call] = deque()
        self._requests: list[Recorded] = []
        self._ids = itertools.count(1)

    async def _endpoint(self, request: Request) -> Response:
        raise NotImplementedError

    # -- helpers

    def _next_scripted(self, body: dict[str, Any]) -> str | Call | None:
        """The next scripted reply; a tool call the request does not offer waits its turn
        (the model cannot call a tool it was not given), and the echo answers meanwhile."""
        if not self._replies:
            return None
        head = self._replies[0]
        if isinstance(head, self.call_type) and not self._offers(body, head.name):
            return None
        return self._replies.popleft()

    def _offers(self, body: dict[str, Any], tool: str) -> bool:
        """Whether the request offers the tool `tool`: each API lists tools its own way."""
        raise NotImplementedError

    def _new_id(self, prefix: str, length: int, seed: str | None = None) -> str:
        """A deterministic id shaped like the API's (the same sequence after every reset):
        `prefix` and `length` hex digits of a digest of `seed` (else the prefix) and a count."""
        digest = hashlib.sha256(f"{seed or prefix}{next(self._ids)}".encode()).hexdigest()
        return prefix + digest[:length]


def function_tool_names(body: dict[str, Any]) -> set[Any]:
    """Names of the tools offered as `tools: [{"function": {"name": ...}}]`, the shape OpenAI
    chat completions and YandexGPT share."""
    return {
        (t.get("function") or {}).get("name")
        for t in body.get("tools") or []
        if isinstance(t, dict)
    }


def pieces(text: str) -> list[str]:
    """How a reply is cut into stream deltas: word by word, spaces kept."""
    out: list[str] = []
    for word in text.split(" "):
        out.append(word if not out else " " + word)
    return [p for p in out if p]


def bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, if that is the header's scheme."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def json_response(body: Any) -> Response:
    return Response(dumps(body), media_type="application/json")


def sse(chunks: Iterator[bytes]) -> StreamingResponse:
    """Server-sent events from ready-framed chunks."""

    async def stream() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return StreamingResponse(stream(), media_type="text/event-stream; charset=utf-8")


def try_json(raw: bytes) -> Any:
    """The body as recorded: parsed JSON, else the text as sent (a test asserts what came)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


class _KeyRing(Protocol):
    def add_key(self, key: str) -> None: ...

    def keys(self) -> list[str]: ...


def add_key_route(api: APIRouter, emulator: _KeyRing) -> None:
    """`POST /keys` for an API whose keys stand alone (YandexGPT's belong to a folder)."""

    @api.post("/keys", status_code=201)
    async def add_key(body: KeyIn) -> dict[str, Any]:
        emulator.add_key(body.key)
        return {"keys": emulator.keys()}


class _Scripting(Protocol):
    def script(self, replies: Iterable[str]) -> int: ...

    def requests(self, path: str | None = ...) -> list[Any]: ...


class KeyIn(BaseModel):
    """An API key to register (YandexGPT's keys also name their folder: it has its own)."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1)


class ToolCallIn(BaseModel):
    """A scripted function call, `name(**arguments)`, as OpenAI and YandexGPT name it
    (Anthropic's tool use names its arguments `input`, so it keeps its own body)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class RepliesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    replies: list[str] = Field(min_length=1)


def chat_control_router(emulator: _Scripting, tag: str) -> APIRouter:
    """The control routes every chat emulator has: queue text replies (`POST /replies`) and
    read back the requests (`GET /requests`). Each emulator adds its own key and tool-call
    routes to the router returned, their bodies named as its API names them."""
    api = APIRouter(tags=[f"sandbox: {tag}"])

    @api.post("/replies", status_code=201)
    async def script(body: RepliesIn) -> dict[str, Any]:
        return {"queued": emulator.script(body.replies)}

    @api.get("/requests")
    async def requests(path: str | None = None) -> dict[str, Any]:
        return {"requests": [r.to_dict() for r in emulator.requests(path)]}

    return api
