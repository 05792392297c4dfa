"""Official platform clients hard-code the platform's host; these send them to a sandbox."""

from __future__ import annotations

from typing import Any

import httpx
import requests
from requests.adapters import HTTPAdapter


class RewriteTransport(httpx.HTTPTransport):
    """httpx (sync): every request goes to `base` + its path, whatever host it named."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self._base = httpx.URL(base)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = self._base.copy_with(
            path=self._base.path.rstrip("/") + request.url.path, query=request.url.query
        )
        request.headers["host"] = self._base.netloc.decode()
        return super().handle_request(request)


class RewriteAdapter(HTTPAdapter):
    """requests: mounted on a platform's prefix, sends to `base` + the rest of the URL."""

    def __init__(self, prefix: str, base: str) -> None:
        super().__init__()
        self._prefix, self._base = prefix, base.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        assert request.url is not None and request.url.startswith(self._prefix)
        request.url = self._base + "/" + request.url[len(self._prefix) :].lstrip("/")
        return super().send(request, *args, **kwargs)
