"""Request dependencies: the container and the authenticated tenant.

The tenant is authenticated at the edge (api/auth.py), before the body is read; `tenant_id`
reads what it recorded. The Bearer scheme stays declared here so the OpenAPI schema says
how to authenticate.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from easyflow.api.auth import TENANT_STATE_KEY
from easyflow.domain.errors import UnauthenticatedError

_bearer = HTTPBearer(auto_error=False, description="A tenant API key: `ef_<prefix>_<secret>`")


async def container(request: Request) -> Any:
    # async: a plain `def` dependency runs in the thread pool, a hop on every request.
    return request.app.state.container


async def tenant_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    authenticated = request.scope.get("state", {}).get(TENANT_STATE_KEY)
    if authenticated is not None:
        return int(authenticated)
    # Only a route mounted outside the edge step gets here: authenticate late, but still.
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError("missing bearer API key")
    return int(await request.app.state.container.tenants.authenticate(credentials.credentials))


Container = Annotated[Any, Depends(container)]
TenantId = Annotated[int, Depends(tenant_id)]
# Row ids are BIGINT: a larger number is a 422, never a driver overflow.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
# Offsets and cursors are bound to BIGINT too: beyond it, a 422, not a driver overflow (500).
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID)]
