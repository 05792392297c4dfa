"""The platform pools keep no cookies: what one tenant's response sets never reaches
another tenant's request over the same pooled client."""

from __future__ import annotations

from typing import Any

import pytest

from easyflow.bootstrap import HttpClients
from support.live_server import async_live_server


async def _platform(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Sets a session cookie on /login; echoes the Cookie header it got on /echo."""
    if scope["type"] != "http":
        return
    headers = dict(scope["headers"])
    if scope["path"] == "/login":
        extra = [(b"set-cookie", b"session=tenant-a-secret; Path=/")]
        body = b"ok"
    else:
        extra = []
        body = headers.get(b"cookie", b"")
    await send({"type": "http.response.start", "status": 200, "headers": extra})
    await send({"type": "http.response.body", "body": body})


async def test_a_cookie_set_for_one_call_is_not_sent_with_the_next() -> None:
    clients = HttpClients()
    client = clients.get("shopify")
    try:
        async with async_live_server(_platform) as url:
            login = await client.get(f"{url}/login")
            assert login.headers["set-cookie"].startswith("session=")  # the server did set it
            echoed = await client.get(f"{url}/echo")
        assert echoed.content == b""
        assert len(client.cookies) == 0
    finally:
        await clients.aclose()


def test_the_pool_takes_no_cookies() -> None:
    client = HttpClients().get("ozon")
    with pytest.raises(ValueError, match="no cookies"):
        client.cookies = {"session": "x"}
