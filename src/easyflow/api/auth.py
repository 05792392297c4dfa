"""Admin API authentication at the edge, before a byte of the request body is read.

FastAPI reads and parses a route's JSON body before it solves the route's dependencies, so
a key checked in a dependency is checked too late: anyone could make the hub read and parse
bodies. This pure-ASGI step runs first for every path under `/api/v1/` except the public
ones (platform webhooks authenticate by their own schemes): it validates the Bearer key with
the tenant service and records the tenant id in the request's state, where
`api/deps.py::tenant_id` reads it. Ownership is proved once, here.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from easyflow.domain.errors import UnauthenticatedError

log = structlog.get_logger("easyflow.api")

TENANT_STATE_KEY = "tenant_id"
PROTECTED_PREFIX = "/api/v1/"
PUBLIC_PREFIXES = ("/api/v1/messaging/webhook/",)


class ApiKeyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        protected: str = PROTECTED_PREFIX,
        public: tuple[str, ...] = PUBLIC_PREFIXES,
    ) -> None:
        self.app = app
        self.protected = protected
        self.public = public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or not path.startswith(self.protected)
            or path.startswith(self.public)
        ):
            await self.app(scope, receive, send)
            return
        try:
            tenant_id = await _authenticate(scope)
        except UnauthenticatedError as exc:
            # The reason is for our logs only: a caller probing credentials learns nothing.
            log.info("unauthenticated request", path=path, reason=str(exc))
            response = JSONResponse({"detail": "unauthorized"}, status_code=401)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[TENANT_STATE_KEY] = tenant_id
        await self.app(scope, receive, send)


async def _authenticate(scope: Scope) -> int:
    key = bearer_key(scope["headers"])
    if key is None:
        raise UnauthenticatedError("missing bearer API key")
    container: Any = scope["app"].state.container
    return int(await container.tenants.authenticate(key))


def bearer_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The credential of `Authorization: Bearer <key>`, or None."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            credential = credential.strip()
            if scheme.lower() == "bearer" and credential:
                return credential
            return None
    return None
