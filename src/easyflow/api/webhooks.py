"""Inbound webhooks: `POST /api/v1/messaging/webhook/{platform}[/{integration_id}]`.

The body is not read here: intake reads it once, after what the headers alone can prove
(Telegram's secret token), and checks signatures over the exact bytes the platform sent. Its
size is bounded while it streams in (api/limits.py). The answer is the platform's expected
ack, sent after the commit.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from easyflow.api.deps import Container, RowId

router = APIRouter(prefix="/api/v1/messaging/webhook", tags=["webhooks"])


async def _receive(
    container: Container, request: Request, platform: str, integration_id: int | None
) -> JSONResponse:
    ack = await container.intake.receive(platform, integration_id, request.headers, request.body)
    return JSONResponse(ack)


@router.post("/{platform}/{integration_id}", summary="A platform delivers to one integration")
async def receive_for_integration(
    platform: str, integration_id: RowId, request: Request, container: Container
) -> JSONResponse:
    return await _receive(container, request, platform, integration_id)


@router.post("/{platform}", summary="A platform delivers to the tenant's single channel")
async def receive_single(platform: str, request: Request, container: Container) -> JSONResponse:
    return await _receive(container, request, platform, None)
