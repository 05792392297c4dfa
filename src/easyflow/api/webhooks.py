"""Inbound webhooks: `POST /api/v1/messaging/webhook/{platform}[/{integration_id}]`.

The raw body is read before anything else: authenticity is checked over the exact bytes the
platform sent. The answer is the platform's expected ack, sent after the commit.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from easyflow.api.deps import Container, RowId

router = APIRouter(prefix="/api/v1/messaging/webhook", tags=["webhooks"])

MAX_BODY_BYTES = 1_000_000  # a Telegram update is a few KiB; anything near this is abuse


async def _receive(
    container: Container, request: Request, platform: str, integration_id: int | None
) -> JSONResponse:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return JSONResponse({"detail": "body too large"}, status_code=413)
    ack = await container.intake.receive(platform, integration_id, request.headers, body)
    return JSONResponse(ack)


@router.post("/{platform}/{integration_id}", summary="A platform delivers to one integration")
async def receive_for_integration(
    platform: str, integration_id: RowId, request: Request, container: Container
) -> JSONResponse:
    return await _receive(container, request, platform, integration_id)


@router.post("/{platform}", summary="A platform delivers to the tenant's single channel")
async def receive_single(platform: str, request: Request, container: Container) -> JSONResponse:
    return await _receive(container, request, platform, None)
