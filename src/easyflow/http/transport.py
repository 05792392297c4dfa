"""The network under the hub's httpx clients: aiohttp, through `httpx-aiohttp`.

httpx stays the API every outbound call is written against (`PlatformClient`, tests that put
a sandbox under it with `httpx.ASGITransport`); only the bytes on the wire go through aiohttp,
whose C-accelerated HTTP/1.1 parser and leaner connection pool cost a half to two thirds of
httpcore's CPU per call (an Ozon page of 80 kB, on two machines: 0.35–0.42 ms against
0.68–0.74 ms; 1.4–2.1 ms against 2.2–3.0 ms: `bench/http_calls.py`). A sync reads a
thousand such pages per 100 000 orders, and every reply the hub sends is a call.

`httpx-aiohttp` turns aiohttp's errors into httpx's, but too coarsely for the hub: a server
that hangs up after the request was sent, or a read that timed out, comes out as
`httpx.ConnectTimeout`, which says "never sent" — and `PlatformClient` repeats a call that
was never sent, even one that must reach the platform at most once. `AiohttpTransport`
translates again from the aiohttp error itself (`_httpx_error`): "not sent" only for a
connection that was never made.
"""

from __future__ import annotations

import urllib.request
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


class _Route(httpx_aiohttp.AiohttpTransport):
    """Requests that take one way out: straight to the platform or through one proxy."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await super().handle_async_request(request)
        except httpx.TransportError as error:
            raise _httpx_error(error) from error.__cause__
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _TranslatedBody(response.stream)
        return response

    async def aclose(self) -> None:
        """The session is the transport's, shared by its routes: it closes it once."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """The network under one platform's httpx client: one aiohttp session (one connection
    pool, no cookies: the httpx client above it keeps none either, `pooled`), the hub's
    reading of errors, and proxies as httpx takes them from the environment.

    The session's own `trust_env` is left off: aiohttp would then read `~/.netrc` and the
    proxy variables again on every request, each in a worker thread (two thread hops per
    call: with them the transport cost more CPU per call than httpx alone), and would send
    the netrc's credentials to the platform, which httpx never does. Like httpx, the proxy
    variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`) are read once, when the
    transport is made.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._ssl = httpx.create_ssl_context()  # SSL_CERT_FILE / SSL_CERT_DIR, like httpx
        self._proxies = urllib.request.getproxies_environment()
        self._session: aiohttp.ClientSession | None = None
        self._routes: dict[str, _Route] = {}

    def _shared_session(self) -> aiohttp.ClientSession:
        # Made on the first request, inside the running event loop, as aiohttp requires.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._limits.max_connections or 0,
                keepalive_timeout=self._limits.keepalive_expiry or 5.0,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        return self._session

    def proxy_for(self, url: httpx.URL) -> str:
        """The proxy a request to `url` goes through ("" for none), from the environment."""
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all") or ""
        # NO_PROXY matched as the standard library matches it (typeshed leaves the function out).
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if proxy and bypass(url.host, self._proxies):
            return ""
        return proxy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        proxy = self.proxy_for(request.url) if self._proxies else ""
        route = self._routes.get(proxy)
        if route is None:
            route = self._routes[proxy] = _Route(
                limits=self._limits,
                verify=self._ssl,
                proxy=httpx.Proxy(proxy) if proxy else None,
                client=self._shared_session,
            )
        return await route.handle_async_request(request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
