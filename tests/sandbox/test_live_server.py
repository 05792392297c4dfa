"""The live-server helper: serves an ASGI app on a free loopback port and stops cleanly."""

from __future__ import annotations

import socket

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from support.live_server import async_live_server, live_server


def tiny_app() -> Starlette:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hello")

    return Starlette(routes=[Route("/", hello)])


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


def test_sync_live_server() -> None:
    with live_server(tiny_app()) as url:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url).text == "hello"
    assert refused(url)


async def test_async_live_server() -> None:
    async with async_live_server(tiny_app()) as url, httpx.AsyncClient() as client:
        assert (await client.get(url)).text == "hello"
    assert refused(url)
