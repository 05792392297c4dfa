"""Request body limits, on every route, before routing and authentication.

One pure-ASGI middleware (no BaseHTTPMiddleware: nothing is buffered on its way through):

- a declared `Content-Length` over the route family's limit is answered 413 at once, and the
  body is never read (a client that sent `Expect: 100-continue` never sends it at all);
- otherwise every chunk the application reads is counted as it streams in; past the limit
  the read raises `BodyTooLarge` (a 413) and the rest is never read;
- the whole body must arrive within `read_timeout` seconds of the first read (408), so a
  sender trickling bytes cannot hold a request (and the database unit intake holds while it
  reads an authenticated webhook) open for ever.

Over-limit answers carry `Connection: close`: the server then drops the connection instead of
reading the rest of an abusive upload. The limits per route family are facts, set in app.py
from the settings: platform webhooks 1 MiB (`max_webhook_body_bytes`; an update is a few
KiB), the rest of `/api/` 2 MiB (`max_api_body_bytes`; the largest valid admin body, an AI
profile at its schema maxima, is 1.8 MiB in ASCII), anything else 64 KiB (no other route
takes a body). Admin requests are authenticated before their body is read (api/auth.py).

Headers come before any of this, parsed by the server. uvicorn's `httptools` parser (the
fast one) keeps every header byte a client sends until the header block ends, with no limit
of its own (its `h11` parser stopped at 16 KiB), so `easyflow serve` runs it as
`HeaderLimitedHttp`: a request whose header block passes `MAX_HEADER_BYTES` is answered 431
and its connection closed, having cost at most that plus two socket reads.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_BODY_BYTES = 64 * 1024  # health, docs, metrics, unknown paths: they take no body
DEFAULT_READ_TIMEOUT = 30.0


class BodyTooLarge(HTTPException):
    """Raised from `receive()` once the counted bytes pass the limit.

    An HTTPException, so FastAPI's body parsing re-raises it as it is (it turns any other
    error into a 400) and the exception middleware answers it.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit), headers={"Connection": "close"})


class BodyReadTimeout(HTTPException):
    def __init__(self, seconds: float) -> None:
        detail = f"request body not received within {seconds:g} s"
        super().__init__(408, detail, headers={"Connection": "close"})


def _too_large(limit: int) -> str:
    return f"request body too large: the limit here is {limit} bytes"


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Limits by path prefix (first match wins), else `default`."""

    rules: tuple[tuple[str, int], ...] = ()
    default: int = DEFAULT_BODY_BYTES
    read_timeout: float = DEFAULT_READ_TIMEOUT

    def for_path(self, path: str) -> int:
        return next(
            (limit for prefix, limit in self.rules if path.startswith(prefix)), self.default
        )


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_path(scope["path"])
        declared = _content_length(scope)
        if declared == -1:
            await _answer(scope, receive, send, 400, "Content-Length is not a number")
            return
        if declared is not None and declared > limit:
            await _answer(scope, receive, send, 413, _too_large(limit))
            return
        counter = _CountingReceive(receive, limit, self.limits.read_timeout)
        announced = declared != 0 and (
            declared is not None or _has_header(scope, b"transfer-encoding")
        )
        started = False

        async def watch_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if announced and not counter.complete:
                    # Answered before the body was read (401, 404, 413...): close rather than
                    # let the server read and discard the rest of a possibly endless upload.
                    headers = list(message.get("headers", []))
                    if not any(key.lower() == b"connection" for key, _ in headers):
                        message["headers"] = [*headers, (b"connection", b"close")]
            await send(message)

        try:
            await self.app(scope, counter, watch_send)
        except (BodyTooLarge, BodyReadTimeout) as exc:
            # Reached here only if nothing inside answered it; after a response has started
            # there is nothing to say, so let the server drop the connection.
            if started:
                raise
            await _answer(scope, receive, send, exc.status_code, exc.detail)


class _CountingReceive:
    """`receive` that counts body bytes and stops reading past the limit or the deadline."""

    def __init__(self, receive: Receive, limit: int, timeout: float) -> None:
        self._receive = receive
        self._limit = limit
        self._timeout = timeout
        self._received = 0
        self._deadline: float | None = None
        self._done = False
        self._exceeded = False

    @property
    def complete(self) -> bool:
        """The whole body was read (and was within the limit)."""
        return self._done and not self._exceeded

    async def __call__(self) -> Message:
        if self._exceeded:  # the request is dead: never read another byte of it
            return {"type": "http.disconnect"}
        if self._done:  # the body is complete: disconnect notices pass straight through
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self._deadline is None:
            self._deadline = loop.time() + self._timeout
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self._exceeded = True
            raise BodyReadTimeout(self._timeout) from None
        if message["type"] != "http.request":
            self._done = True
            return message
        self._received += len(message.get("body", b""))
        if self._received > self._limit:
            self._exceeded = True
            raise BodyTooLarge(self._limit)
        self._done = not message.get("more_body", False)
        return message


def _has_header(scope: Scope, name: bytes) -> bool:
    return any(key == name for key, _ in scope["headers"])


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent (chunked), -1 when it is not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) <= 18 else -1
    return None


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)


# Request line and headers together; nginx's default allows 32 KiB, h11 16 KiB. A
# platform's webhook sends well under 2 KiB.
MAX_HEADER_BYTES = 32 * 1024
_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 31\r\n"
    b"connection: close\r\n\r\n"
    b"Request header fields too large"
)


class HeaderLimitedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a header block over `MAX_HEADER_BYTES`.

    Counted per socket read, after the parser has seen it: a read that began and ended
    inside one request's header block was all header bytes. The read in which a request
    begins is not counted (part of it may be the request before, on a kept-alive
    connection), so a block is cut after at most the limit plus two reads, and a byte of
    anything else is never counted. Pass it as uvicorn's `http`.
    """

    _messages = 0  # requests begun on this connection
    _in_head = False
    _head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._messages += 1
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        begun = self._messages
        super().data_received(data)
        if not self._in_head or self._messages != begun:
            return
        self._head_bytes += len(data)
        if self._head_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self._in_head = False
            self.transport.write(_HEADERS_TOO_LARGE)
            self.transport.close()
