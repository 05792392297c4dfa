"""Inbound webhooks: `/api/v1/messaging/webhook/{platform}[/{integration_id}]`.

POST is a delivery. The body is not read here: intake reads it once, after what the headers
alone can prove (Telegram's secret token), and checks signatures over the exact bytes the
platform sent. Its size is bounded while it streams in (api/limits.py). The answer is the
platform's own (JSON, plain text or an empty 200), sent after the commit.

GET is the platform's verification handshake where it has one (WhatsApp: `hub.challenge` as
plain text, 403 for a wrong verify token); a platform without one answers 405.

A well-formed POST (`{platform}` and, if given, an id in the row-id range) never reaches
FastAPI's routing: `DeliveryEndpoint` serves it as a bare ASGI app, behind the same request
id and body limit steps (app.py). Intake is the hub's hottest path, and FastAPI's route
matching, dependency solving and middleware layers cost several times what the work itself
does. The answers are the same as the routes below give; those routes still serve whatever
the fast path does not recognise (so a malformed id gets FastAPI's own 422), and they
document the webhook in the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from easyflow.api.deps import MAX_ROW_ID, Container, RowId
from easyflow.api.errors import domain_error_response
from easyflow.api.limits import BodyReadTimeout, BodyTooLarge
from easyflow.domain.messaging import WebhookReply
from easyflow.webhooks.inbound import HandshakeRefusedError, MethodNotAllowedError

router = APIRouter(prefix="/api/v1/messaging/webhook", tags=["webhooks"])
DELIVERY_PREFIX = router.prefix + "/"
_MAX_ID_DIGITS = len(str(MAX_ROW_ID))


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


# --------------------------------------------------------------------------- the fast path


def delivery_target(method: str, path: str) -> tuple[str, int | None] | None:
    """(platform, integration id or None) of a well-formed POST delivery, else None: the
    request is then left to the routes above."""
    if method != "POST" or not path.startswith(DELIVERY_PREFIX):
        return None
    platform, slash, rest = path[len(DELIVERY_PREFIX) :].partition("/")
    if not platform:
        return None
    if not slash:
        return platform, None
    if not (rest.isascii() and rest.isdigit()) or len(rest) > _MAX_ID_DIGITS:
        return None
    integration_id = int(rest)
    return (platform, integration_id) if 1 <= integration_id <= MAX_ROW_ID else None


class DeliveryEndpoint:
    """`POST /api/v1/messaging/webhook/{platform}[/{integration_id}]` as a bare ASGI app.

    The caller (app.py) has matched the path with `delivery_target` and put the match in the
    scope under `TARGET_KEY`. Answers as the routes do: the platform's reply, 405 for a
    method the platform never uses, domain errors as api/errors.py maps them, a 500 (and the
    exception, for the server to log) for a bug. The body limit's own errors propagate to
    the limits step around this app, which answers them.
    """

    TARGET_KEY = "easyflow.delivery"

    def __init__(self, container: Callable[[], Any]) -> None:
        self._container = container

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        platform, integration_id = scope[self.TARGET_KEY]

        async def read_body() -> bytes:
            chunks: list[bytes] = []
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    raise ClientDisconnect
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    return chunks[0] if len(chunks) == 1 else b"".join(chunks)

        try:
            reply = await self._container().intake.deliver(
                platform, integration_id, Headers(scope=scope), read_body
            )
        except ClientDisconnect:
            return  # nobody to answer; the body never arrived whole, so nothing was stored
        except MethodNotAllowedError as exc:
            await JSONResponse({"detail": str(exc)}, status_code=405)(scope, receive, send)
            return
        except (BodyTooLarge, BodyReadTimeout):
            raise
        except Exception as exc:
            response = domain_error_response(scope["path"], exc)
            if response is None:
                # As Starlette's ServerErrorMiddleware: a plain 500 (nothing was sent yet:
                # intake answers only by returning), then the exception for the server to log.
                await PlainTextResponse("Internal Server Error", 500)(scope, receive, send)
                raise
            await response(scope, receive, send)
            return
        await _send_reply(reply, send)


async def _send_reply(reply: WebhookReply, send: Send) -> None:
    # The headers Starlette's Response would set for this reply, without building one.
    headers = [
        (b"content-length", str(len(reply.body)).encode()),
        (b"content-type", reply.content_type.encode("latin-1")),
    ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body})
