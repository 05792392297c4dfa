"""Request dependencies: the container and the authenticated tenant."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from easyflow.domain.errors import UnauthenticatedError

_bearer = HTTPBearer(auto_error=False, description="A tenant API key: `ef_<prefix>_<secret>`")


def container(request: Request) -> Any:
    return request.app.state.container


async def tenant_id(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> int:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError("missing bearer API key")
    return int(await container(request).tenants.authenticate(credentials.credentials))


Container = Annotated[Any, Depends(container)]
TenantId = Annotated[int, Depends(tenant_id)]
# Row ids are BIGINT: a larger number is a 422, never a driver overflow.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1)]
