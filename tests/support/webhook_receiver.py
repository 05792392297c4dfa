"""A recording ASGI app to receive webhooks in tests (pass it to `httpx.ASGITransport`).

    receiver = WebhookReceiver(statuses=[500, 500])   # then 200 forever
    sandbox = create_sandbox_app(config, webhook_transport=httpx.ASGITransport(receiver))

Each request is kept with its raw bytes and headers, so tests assert what went over the wire.
`answer` may decide per request instead (e.g. fail one chat, accept another).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope, Send

Reply = int | tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes]

__all__ = ["ReceivedRequest", "WebhookReceiver"]


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Answers scripted statuses first, then `default`; or whatever `answer` returns."""

    def __init__(
        self,
        statuses: Iterable[Reply] = (),
        *,
        default: int = 200,
        answer: Callable[[ReceivedRequest], Reply] | None = None,
    ) -> None:
        self._script = list(statuses)
        self._default = default
        self._answer = answer
        self.requests: list[ReceivedRequest] = []

    def bodies(self) -> list[Any]:
        return [r.json() for r in self.requests]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = ReceivedRequest(
            scope["method"], scope["path"], _headers(scope), await _body(receive)
        )
        self.requests.append(request)
        status, headers, body = self._reply(request)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _reply(self, request: ReceivedRequest) -> tuple[int, dict[str, str], bytes]:
        reply: Reply = (
            self._answer(request)
            if self._answer
            else self._script.pop(0)
            if self._script
            else self._default
        )
        if isinstance(reply, int):
            return reply, {}, b""
        if len(reply) == 2:
            return reply[0], reply[1], b""
        return reply


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode().lower(): v.decode() for k, v in scope["headers"]}


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)
