"""The Telegram sandbox of `easyflow sandbox`, with a stopwatch and a customer crowd.

    python bench/sandbox_server.py --port N [--no-flood]

It serves `create_sandbox_app(...)`, exactly what `easyflow sandbox` serves (same emulators,
same webhook delivery, Telegram's flood limits on unless `--no-flood`), and adds what the
processing benchmark needs and the control API lacks:

* a clock at the two ends of the pipeline, in this process, so both ends read the same clock:
  when each webhook POST left for the hub and when it was acknowledged (a recording transport
  under the delivery client), and when each `sendMessage` was answered (an ASGI wrapper);
* `POST /_bench/drive`: customers write to the bots from inside this process at a fixed rate
  (open loop: the n-th message is due at start + n/rate whatever the hub does), so the load
  generator costs no HTTP request per message;
* `GET /_bench/timeline` (and `POST /_bench/clear`): what the clocks recorded.

`easyflow sandbox` has no switch for its flood limits or a fine clock (SentMessage.date is in
whole seconds, like Telegram's), hence this wrapper rather than the command itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from easyflow.http.transport import AiohttpTransport
from easyflow.sandbox.flood import FloodLimits
from easyflow.sandbox.server import Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.telegram import TelegramConfig, TelegramSandbox


class Timeline:
    """What the bench reads back: webhooks (chat, update_id, left, acked, status), replies."""

    def __init__(self) -> None:
        self.webhooks: list[tuple[int, int, float, float, int]] = []
        self.replies: list[tuple[int, float, int]] = []
        self.written: list[tuple[int, float]] = []  # (chat, when the customer wrote)

    def clear(self) -> None:
        self.webhooks.clear()
        self.replies.clear()
        self.written.clear()


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real network, timing each webhook POST from departure to the hub's answer."""

    def __init__(self, timeline: Timeline) -> None:
        # Every connection kept alive, as Telegram keeps its (up to the webhook's
        # max_connections per bot): httpx keeps 20 by default, so a burst over more chats
        # opened and closed a TCP connection per webhook, at both ends. Over aiohttp, as the
        # hub's own calls go: this process shares the CPUs with the hub, and httpx's own
        # transport spends more of them per request (bench/http_calls.py).
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        self._inner = AiohttpTransport(limits)
        self._timeline = timeline

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        left = time.monotonic()
        response = await self._inner.handle_async_request(request)
        await response.aread()
        try:
            update = json.loads(request.content)
            chat = int((update.get("message") or {}).get("chat", {}).get("id", 0))
            self._timeline.webhooks.append(
                (chat, int(update["update_id"]), left, time.monotonic(), response.status_code)
            )
        except (ValueError, KeyError, TypeError):
            pass
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class ReplyClock:
    """ASGI wrapper: the moment each `sendMessage` was answered, by chat id."""

    def __init__(self, app: Any, timeline: Timeline) -> None:
        self._app = app
        self._timeline = timeline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].lower().endswith("/sendmessage"):
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        status = {"code": 0}

        async def tapped_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
            return message

        async def tapped_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self._app(scope, tapped_receive, tapped_send)
        chat = _chat_id(b"".join(chunks), scope.get("query_string", b""))
        self._timeline.replies.append((chat, time.monotonic(), status["code"]))


def _chat_id(body: bytes, query: bytes) -> int:
    try:
        return int(json.loads(body)["chat_id"])
    except (ValueError, KeyError, TypeError):
        pass
    for source in (body, query):
        values = parse_qs(source.decode("utf-8", "replace")).get("chat_id")
        if values:
            try:
                return int(values[0])
            except ValueError:
                pass
    return 0


class Crowd:
    """Customers writing to the bots at a fixed rate, from inside the sandbox's loop."""

    def __init__(self, sandbox: Sandbox, timeline: Timeline) -> None:
        self._sandbox = sandbox
        self._timeline = timeline
        self.task: asyncio.Task[None] | None = None
        self.written = 0
        self.max_lag = 0.0

    def start(self, spec: dict[str, Any]) -> None:
        if self.task is not None and not self.task.done():
            raise RuntimeError("a drive is already running")
        self.written, self.max_lag = 0, 0.0
        self.task = asyncio.create_task(self._run(spec))

    async def _run(self, spec: dict[str, Any]) -> None:
        tokens: list[str] = spec["tokens"]
        rate, count = float(spec["rate"]), int(spec["count"])
        chats, first_chat = int(spec["chats"]), int(spec["first_chat"])
        text = str(spec.get("text", "Hello!"))
        # Messages each chat writes back to back before the next chat's turn: at 2 a chat's
        # second reply must wait out Telegram's one message a second per chat.
        per_chat = int(spec.get("per_chat", 1))
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(count):
            due = started + n / rate if rate > 0 else started
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.max_lag = max(self.max_lag, -delay)
            chat = first_chat + (n // per_chat) % chats
            # A chat always writes to the same bot, so its messages stay in one queue.
            token = tokens[(chat - first_chat) % len(tokens)]
            self._timeline.written.append((chat, time.monotonic()))
            await self._sandbox.emulator(TelegramSandbox).customer_writes(token, chat, text)
            self.written += 1


def create_app(no_flood: bool) -> Any:
    timeline = Timeline()
    flood = FloodLimits(None, None, None) if no_flood else FloodLimits()
    sandbox = create_sandbox_app(
        SandboxConfig(telegram=TelegramConfig(flood=flood)),
        webhook_transport=RecordingTransport(timeline),
    )
    crowd = Crowd(sandbox, timeline)

    async def drive(request: Request) -> JSONResponse:
        try:
            crowd.start(await request.json())
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return JSONResponse({"started": True}, status_code=202)

    async def drive_status(_: Request) -> JSONResponse:
        done = crowd.task is None or crowd.task.done()
        error = None
        if crowd.task is not None and crowd.task.done() and crowd.task.exception():
            error = repr(crowd.task.exception())
        return JSONResponse(
            {"done": done, "written": crowd.written, "max_lag": crowd.max_lag, "error": error}
        )

    async def read_timeline(_: Request) -> JSONResponse:
        return JSONResponse(
            {
                "now": time.monotonic(),
                "webhooks": timeline.webhooks,
                "replies": timeline.replies,
                "written": timeline.written,
                "busy": sandbox.busy(),
            }
        )

    async def clear(_: Request) -> JSONResponse:
        timeline.clear()
        return JSONResponse({"cleared": True})

    bench = Starlette(
        routes=[
            Route("/_bench/drive", drive, methods=["POST"]),
            Route("/_bench/drive", drive_status, methods=["GET"]),
            Route("/_bench/timeline", read_timeline, methods=["GET"]),
            Route("/_bench/clear", clear, methods=["POST"]),
        ]
    )
    inner = ReplyClock(sandbox.app, timeline)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_bench/"):
            await bench(scope, receive, send)
        else:
            await inner(scope, receive, send)  # lifespan included: it stops deliveries

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-flood", action="store_true", help="switch Telegram's limits off")
    args = parser.parse_args()
    uvicorn.run(create_app(args.no_flood), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
