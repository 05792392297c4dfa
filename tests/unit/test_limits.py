"""The body-limit middleware at the ASGI level: what it reads, what it answers.

The app under it is a real ASGI app that reads the whole body and echoes its length; the
server side is a `receive` that hands out chunks and counts them, so "never read" and "stopped
reading" are counted, not inferred.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from easyflow.api.limits import BodyLimitMiddleware, BodyLimits

CHUNK = 1000


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    body = await Request(scope, receive).body()
    await JSONResponse({"length": len(body)})(scope, receive, send)


class Client:
    """One request through the middleware; `chunks` bodies of CHUNK bytes, or none at all."""

    def __init__(self, chunks: int | None, *, stall: bool = False) -> None:
        self.chunks = chunks
        self.stall = stall
        self.handed_out = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.stall:
            await asyncio.Event().wait()  # a client that never sends its body
        if self.chunks is not None and self.handed_out >= self.chunks:
            return {"type": "http.disconnect"}
        self.handed_out += 1
        more = self.chunks is None or self.handed_out < self.chunks
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": more}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def request(
        self, limits: BodyLimits, path: str = "/api/x", headers: list[Any] | None = None
    ) -> tuple[int, dict[str, Any], dict[bytes, bytes]]:
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": headers if headers is not None else [(b"transfer-encoding", b"chunked")],
            "query_string": b"",
        }
        await BodyLimitMiddleware(echo_length, limits)(scope, self.receive, self.send)
        start, body = self.sent[0], self.sent[1]
        return start["status"], json.loads(body["body"]), dict(start["headers"])


LIMITS = BodyLimits(rules=(("/api/hooks/", 5 * CHUNK), ("/api/", 10 * CHUNK)), default=CHUNK)


async def test_bodies_within_the_limit_pass_whole() -> None:
    client = Client(chunks=10)
    status, body, _ = await client.request(LIMITS)
    assert (status, body) == (200, {"length": 10 * CHUNK})


async def test_an_endless_body_is_read_to_the_limit_and_no_further() -> None:
    client = Client(chunks=None)  # would go on for ever
    status, body, headers = await client.request(LIMITS)
    assert status == 413
    assert body == {"detail": f"request body too large: the limit here is {10 * CHUNK} bytes"}
    assert headers[b"connection"] == b"close"
    assert client.handed_out == 11


async def test_the_limit_is_chosen_by_path_prefix() -> None:
    for path, allowed in (("/api/hooks/telegram", 5), ("/api/v1/x", 10), ("/health", 1)):
        client = Client(chunks=None)
        status, _, _ = await client.request(LIMITS, path)
        assert (status, client.handed_out) == (413, allowed + 1), path


async def test_a_declared_length_over_the_limit_is_refused_without_reading() -> None:
    client = Client(chunks=None)
    headers = [(b"content-length", str(10 * CHUNK + 1).encode())]
    status, _, response_headers = await client.request(LIMITS, headers=headers)
    assert (status, client.handed_out) == (413, 0)
    assert response_headers[b"connection"] == b"close"
    client = Client(chunks=None)
    status, body, _ = await client.request(LIMITS, headers=[(b"content-length", b"12x")])
    assert (status, client.handed_out) == (400, 0)
    assert "Content-Length" in body["detail"]


async def test_a_body_that_never_arrives_times_out() -> None:
    client = Client(chunks=None, stall=True)
    limits = BodyLimits(rules=LIMITS.rules, default=CHUNK, read_timeout=0.01)
    status, body, _ = await client.request(limits)
    assert status == 408
    assert "not received" in body["detail"]


async def test_an_answer_before_the_body_is_read_closes_the_connection() -> None:
    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse({"detail": "unauthorized"}, status_code=401)(scope, receive, send)

    for headers, closes in (
        ([(b"transfer-encoding", b"chunked")], True),
        ([(b"content-length", b"5")], True),
        ([(b"content-length", b"0")], False),
        ([], False),
    ):
        client = Client(chunks=None)
        scope = {"type": "http", "method": "POST", "path": "/api/x", "headers": headers}
        await BodyLimitMiddleware(refuse, LIMITS)(scope, client.receive, client.send)
        sent_headers = dict(client.sent[0]["headers"])
        assert (sent_headers.get(b"connection") == b"close") is closes, headers
        assert client.handed_out == 0
