"""Inbound webhooks: `/api/v1/messaging/webhook/{platform}[/{integration_id}]`.

POST is a delivery. The body is not read here: intake reads it once, after what the headers
alone can prove (Telegram's secret token), and checks signatures over the exact bytes the
platform sent. Its size is bounded while it streams in (api/limits.py). The answer is the
platform's own (JSON, plain text or an empty 200), sent after the commit.

GET is the platform's verification handshake where it has one (WhatsApp: `hub.challenge` as
plain text, 403 for a wrong verify token); a platform without one answers 405.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from easyflow.api.deps import Container, RowId
from easyflow.domain.messaging import WebhookReply
from easyflow.webhooks.inbound import HandshakeRefusedError, MethodNotAllowedError

router = APIRouter(prefix="/api/v1/messaging/webhook", tags=["webhooks"])


def _response(reply: WebhookReply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type)


async def _receive(
    container: Container, request: Request, platform: str, integration_id: int | None
) -> Response:
    try:
        reply = await container.intake.deliver(
            platform, integration_id, request.headers, request.body
        )
    except MethodNotAllowedError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=405)
    return _response(reply)


@router.post("/{platform}/{integration_id}", summary="A platform delivers to one integration")
async def receive_for_integration(
    platform: str, integration_id: RowId, request: Request, container: Container
) -> Response:
    return await _receive(container, request, platform, integration_id)


@router.post("/{platform}", summary="A platform delivers to the tenant's single channel")
async def receive_single(platform: str, request: Request, container: Container) -> Response:
    return await _receive(container, request, platform, None)


@router.get(
    "/{platform}/{integration_id}",
    summary="The platform verifies the webhook URL (WhatsApp hub.challenge)",
    response_class=PlainTextResponse,
)
async def verify_for_integration(
    platform: str, integration_id: RowId, request: Request, container: Container
) -> Response:
    try:
        reply = await container.intake.handshake(
            platform, integration_id, dict(request.query_params)
        )
    except MethodNotAllowedError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=405)
    except HandshakeRefusedError:
        return PlainTextResponse("forbidden", status_code=403)
    return _response(reply)
