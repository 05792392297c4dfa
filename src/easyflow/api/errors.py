"""Domain errors become clear 4xx answers; nothing a caller did wrong becomes a 500."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from easyflow.domain.errors import (
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MalformedPayloadError,
    NotFoundError,
    RejectedError,
    RetryableError,
    TransientStorageError,
    UnauthenticatedError,
    UnreadableSecretError,
)

log = structlog.get_logger("easyflow.api")

# Order matters: the first matching class wins.
_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (UnauthenticatedError, 401),
    (NotFoundError, 404),
    (MalformedPayloadError, 400),
    (ConflictError, 409),
    (InvalidRequestError, 400),
    (ConfigurationError, 400),
    (RejectedError, 400),
    (RetryableError, 503),
    (UnreadableSecretError, 503),
    # A webhook answered 503 is redelivered by the platform: nothing acknowledged is lost.
    (TransientStorageError, 503),
)


def domain_error_response(path: str, exc: Exception) -> JSONResponse | None:
    """The answer to a domain error raised while serving `path`; None if it is not one
    (a bug: the caller lets it become a 500). Also used by routes served outside FastAPI's
    routing (the webhook deliveries, api/webhooks.py)."""
    status = next((status for cls, status in _STATUS if isinstance(exc, cls)), None)
    if status is None:
        return None
    if status == 401:
        # The reason is for our logs only: a caller probing credentials learns nothing.
        log.info("unauthenticated request", path=path, reason=str(exc))
        return JSONResponse({"detail": "unauthorized"}, status_code=401)
    headers = {"Retry-After": "30"} if status == 503 else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    response = domain_error_response(request.url.path, exc)
    if response is None:  # registered for _STATUS classes only
        raise exc
    return response


async def _invalid_body(request: Request, exc: Exception) -> JSONResponse:
    # FastAPI's default echoes the offending input back, credentials included: keep only
    # where and what.
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = [{"loc": e.get("loc"), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
    return JSONResponse({"detail": detail}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    for cls, _status in _STATUS:
        app.add_exception_handler(cls, _handle)
    app.add_exception_handler(RequestValidationError, _invalid_body)
