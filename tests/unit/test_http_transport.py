"""The hub's network transport (aiohttp under httpx) over real sockets: what a call that fails
on the wire becomes, and so whether `PlatformClient` may send it again.

A raw asyncio server plays each failure: nothing listening, the connection dropped after the
request arrived, no answer in time, a body cut short. What is asserted is what the server
received (how many copies of the request) and the error the caller sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from easyflow.domain.delivery import send_at_most_once
from easyflow.domain.errors import OutcomeUnknownError, RetryableError
from easyflow.http import InMemoryRateLimiter, PlatformClient, RetryPolicy
from easyflow.http.pooled import CookielessClient
from easyflow.http.transport import AiohttpTransport
from easyflow.observability.metrics import Metrics
from easyflow.platforms import ozon

Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02)
CREDENTIALS = {"client_id": "1", "api_key": "k-1"}


@dataclasses.dataclass
class Server:
    url: str
    requests: list[bytes]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


@contextlib.asynccontextmanager
async def serving(behaviour: Behaviour) -> AsyncIterator[Server]:
    requests: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                requests.append(await _read_request(reader))
                await behaviour(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Server(f"http://127.0.0.1:{port}", requests)
    finally:
        server.close()


def _answer(body: bytes, *, extra: bytes = b"", length: int | None = None) -> bytes:
    size = len(body) if length is None else length
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + extra
        + f"Content-Length: {size}\r\n\r\n".encode()
        + body
    )


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    raise ConnectionError("the server drops the connection without answering")


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def _cut_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(_answer(b'{"result": [', length=1000))
    await writer.drain()
    raise ConnectionError("the server drops the connection mid-body")


@contextlib.asynccontextmanager
async def platform_client(url: str, *, timeout: float = 5.0) -> AsyncIterator[PlatformClient]:
    spec = dataclasses.replace(ozon.SPEC, rate_limits=(), timeout=timeout)
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    http = CookielessClient(transport=AiohttpTransport(limits))
    try:
        yield PlatformClient(
            spec,
            http=http,
            classify=ozon.classify,
            credentials=CREDENTIALS,
            limiter=InMemoryRateLimiter(),
            metrics=Metrics(),
            base_url=url,
            retry=FAST,
        )
    finally:
        await http.aclose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_an_answer_comes_back_and_no_cookie_is_kept() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_answer(b'{"result": {"ok": 1}}', extra=b"Set-Cookie: lb=node-7\r\n"))
        await writer.drain()

    async with serving(answer) as server, platform_client(server.url) as client:
        assert await client.call("/v1/a", json={"x": 1}) == {"result": {"ok": 1}}
        assert await client.call("/v1/b", json={"x": 2}) == {"result": {"ok": 1}}
    assert len(server.requests) == 2
    assert b"api-key: k-1" in server.requests[0].lower()
    assert server.requests[0].endswith(b'{"x":1}')
    assert b"cookie" not in server.requests[1].lower()


async def test_a_platform_nobody_listens_on_is_never_sent_to_so_it_is_retried() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    async with platform_client(url) as client:
        with send_at_most_once(), pytest.raises(RetryableError) as caught:
            await client.call("/v1/a", json={})
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert "connection error" in str(caught.value)


@pytest.mark.parametrize("behaviour", [_hang_up, _cut_body], ids=["hang-up", "cut-body"])
async def test_a_request_that_arrived_is_not_sent_again_when_it_must_arrive_once(
    behaviour: Behaviour,
) -> None:
    async with serving(behaviour) as server, platform_client(server.url) as client:
        with send_at_most_once(), pytest.raises(OutcomeUnknownError):
            await client.call("/v1/a", json={"text": "hello"})
    assert len(server.requests) == 1


@pytest.mark.parametrize("behaviour", [_hang_up, _cut_body], ids=["hang-up", "cut-body"])
async def test_a_request_that_may_be_repeated_is_retried_after_a_lost_connection(
    behaviour: Behaviour,
) -> None:
    async with serving(behaviour) as server, platform_client(server.url) as client:
        with pytest.raises(OutcomeUnknownError):
            await client.call("/v1/a", json={})
    assert len(server.requests) == FAST.attempts


async def test_no_answer_in_time_is_an_unknown_outcome_not_a_connect_timeout() -> None:
    async with serving(_never_answer) as server, platform_client(server.url, timeout=0.3) as c:
        with send_at_most_once(), pytest.raises(OutcomeUnknownError) as caught:
            await c.call("/v1/a", json={})
    assert "ReadTimeout" in str(caught.value)
    assert len(server.requests) == 1


async def test_a_streamed_read_cut_mid_body_may_be_read_again() -> None:
    async with serving(_cut_body) as server, platform_client(server.url) as client:
        body = await client.open_stream("/v1/rows", path="/v1/rows")
        try:
            with pytest.raises(RetryableError) as caught:
                async for _ in body:
                    pass
        finally:
            await body.aclose()
    assert not isinstance(caught.value, OutcomeUnknownError)
    assert "body cut short" in str(caught.value)


async def _ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(_answer(b'{"result": {"ok": 1}}'))
    await writer.drain()


def _request_line(request: bytes) -> bytes:
    return request.split(b"\r\n", 1)[0]


async def test_a_proxy_in_the_environment_carries_the_calls_except_to_no_proxy_hosts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with serving(_ok) as proxy, serving(_ok) as platform:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with platform_client("http://seller-api.example") as client:
            assert await client.call("/v1/a", json={}) == {"result": {"ok": 1}}
        async with platform_client(platform.url) as client:
            assert await client.call("/v1/b", json={}) == {"result": {"ok": 1}}
    # A forward proxy gets the whole address in the request line; a platform, the path.
    assert [_request_line(r) for r in proxy.requests] == [
        b"POST http://seller-api.example/v1/a HTTP/1.1"
    ]
    assert [_request_line(r) for r in platform.requests] == [b"POST /v1/b HTTP/1.1"]


async def test_a_netrc_in_the_environment_sends_no_credentials_to_a_platform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login operator password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    async with serving(_ok) as server, platform_client(server.url) as client:
        await client.call("/v1/a", json={})
    assert b"authorization" not in server.requests[0].lower()
