"""The pooled httpx client every tenant's calls to one platform share: it keeps no cookies.

httpx keeps the cookies a response sets and sends them with the client's next requests. The
hub holds one pool per platform for all tenants, so a cookie set on one seller's call (a load
balancer's session, a platform's tracking cookie) would go out with another seller's call.
The platforms' APIs authenticate by token or signature, never by cookie, so none is kept:
nothing one tenant's response sets reaches another's request. Not extracting them also saves
httpx's per-response cookie parsing (about a tenth of a millisecond a call).
"""

from __future__ import annotations

from http.cookiejar import Cookie, CookieJar
from typing import Any

import httpx


class _NoCookieJar(CookieJar):
    """Refuses what is set by hand (`client.cookies.set`); responses never reach it."""

    def set_cookie(self, cookie: Cookie) -> None:
        return None


class _NoCookies(httpx.Cookies):
    """Always empty: what a response sets is dropped unread."""

    def __init__(self) -> None:
        super().__init__(_NoCookieJar())

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class CookielessClient(httpx.AsyncClient):
    """An `httpx.AsyncClient` that neither stores nor sends cookies."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("cookies"):
            raise ValueError("a client shared by tenants takes no cookies")
        super().__init__(**kwargs)
        self._cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        if cookies:
            raise ValueError("a client shared by tenants takes no cookies")
