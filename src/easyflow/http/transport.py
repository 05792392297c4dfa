"""The network under the hub's httpx clients: aiohttp, through `httpx-aiohttp`.

httpx stays the API every outbound call is written against (`PlatformClient`, tests that put
a sandbox under it with `httpx.ASGITransport`); only the bytes on the wire go through aiohttp,
whose C-accelerated HTTP/1.1 parser and leaner connection pool cost about half of httpcore's
CPU per call (a marketplace page of 80 kB: 0.35–0.42 ms against 0.68–0.74 ms). A sync
reads a thousand such pages per 100 000 orders, and every reply the hub sends is a call.

`httpx-aiohttp` turns aiohttp's errors into httpx's, but too coarsely for the hub: a server
that hangs up after the request was sent, or a read that timed out, comes out as
`httpx.ConnectTimeout`, which says "never sent" — and `PlatformClient` repeats a call that
was never sent, even one that must reach the platform at most once. `AiohttpTransport`
translates again from the aiohttp error itself (`_httpx_error`): "not sent" only for a
connection that was never made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx
import httpx_aiohttp

# aiohttp error → the httpx error that says the same about the request. Checked in order:
# the more specific classes first (a ConnectionTimeoutError is also a ServerTimeoutError).
_TRANSLATION: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    # The connection was never made (or no pooled one was free): nothing was sent.
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, DNS, TLS handshake
    # The request went out (or may have): only the platform knows what it did with it.
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError),  # a body cut short or malformed
    (aiohttp.ClientConnectionError, httpx.ReadError),  # reset, broken pipe, other socket errors
)


def _httpx_error(error: httpx.TransportError) -> httpx.TransportError:
    """The httpx error for what `httpx-aiohttp` raised, from the aiohttp error it wraps."""
    cause = error.__cause__
    for aiohttp_error, httpx_error in _TRANSLATION:
        if isinstance(cause, aiohttp_error):
            return httpx_error(str(cause) or type(cause).__name__)
    return error


class _TranslatedBody(httpx.AsyncByteStream):
    """A response body whose read errors are translated like the request's."""

    def __init__(self, body: httpx.AsyncByteStream) -> None:
        self._body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._body:
                yield chunk
        except httpx.TransportError as error:
            raise _httpx_error(error) from error.__cause__

    async def aclose(self) -> None:
        await self._body.aclose()


class AiohttpTransport(httpx_aiohttp.AiohttpTransport):
    """`httpx_aiohttp.AiohttpTransport` with the hub's reading of errors, and an aiohttp
    session that keeps no cookies (the httpx client above it keeps none either: `pooled`)
    and, like httpx, takes proxies from the environment (`HTTPS_PROXY`, `NO_PROXY`)."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, client=self._session)

    def _session(self) -> aiohttp.ClientSession:
        # Made on the first request, inside the running event loop, as aiohttp requires.
        connector = aiohttp.TCPConnector(
            limit=self.limits.max_connections or 0,
            keepalive_timeout=self.limits.keepalive_expiry or 5.0,
            ssl=self.ssl_context,
        )
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=True
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError as error:
            raise _httpx_error(error) from error.__cause__
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _TranslatedBody(response.stream)
        return response
