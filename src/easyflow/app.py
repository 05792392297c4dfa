"""`create_app(settings)`: the FastAPI application. Nothing is built at import time.

The lifespan builds the container (or takes the one a test passes), migrates the embedded
database, starts the job broker and, with the in-process broker, the recovery sweep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from easyflow import __version__
from easyflow.api import admin, ai, events, health, keys, operators, sync, webhooks
from easyflow.api import notifications as notification_routes
from easyflow.api.auth import ApiKeyMiddleware
from easyflow.api.errors import install_error_handlers
from easyflow.api.limits import BodyLimitMiddleware, BodyLimits
from easyflow.api.middleware import RequestIdMiddleware
from easyflow.api.webhooks import DeliveryEndpoint, delivery_target
from easyflow.bootstrap import Container, build_container, settle_start_up_objects
from easyflow.config import Settings
from easyflow.jobs.queue import periodic


class HubApp(FastAPI):
    """FastAPI, with webhook deliveries served before its middleware stack and routing.

    A well-formed `POST /api/v1/messaging/webhook/…` goes through the request id and body
    limit steps straight to `DeliveryEndpoint` (api/webhooks.py says why); every other
    request takes FastAPI's way. The admin key step does not apply to webhooks (they are
    public and authenticate by their platform's scheme), nor do FastAPI's exception handlers
    (the endpoint answers domain errors itself, the limits step its own).
    """

    deliveries: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.deliveries is not None:
            target = delivery_target(scope["method"], scope["path"])
            if target is not None:
                scope["app"] = self
                scope[DeliveryEndpoint.TARGET_KEY] = target
                await self.deliveries(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    container: Container | None = None,
    *,
    long_running: bool = False,
) -> FastAPI:
    """The hub's ASGI app. `long_running`: this process serves until stopped (`easyflow
    serve`), so what start-up leaves is settled out of the collector's way once started
    (`bootstrap.settle_start_up_objects`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        c = container or build_container(settings or Settings())
        app.state.container = c
        async with AsyncExitStack() as stack:
            await c.start()
            stack.push_async_callback(c.aclose)
            if c.settings.broker_url.startswith("memory"):
                await stack.enter_async_context(
                    periodic("recovery", c.settings.recovery_interval_seconds, c.recovery.run)
                )
                # The embedded default schedules syncs in process; production runs one or
                # more `easyflow scheduler` (slots make a second one harmless).
                await stack.enter_async_context(periodic("sync-scheduler", 30.0, c.scheduler.tick))
                webhooks_every = c.settings.operator_webhook_interval_seconds
                await stack.enter_async_context(
                    periodic("operator-webhooks", webhooks_every, c.operator_webhooks.deliver_due)
                )
            if long_running:
                settle_start_up_objects()
            yield

    app = HubApp(
        title="Easy Flow",
        version=__version__,
        summary="Integration hub for online sellers",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    # Added last runs first: request id, then body limits, then the admin API key, all
    # before routing (so before FastAPI reads any body).
    limits = _body_limits(settings, container)
    app.add_middleware(ApiKeyMiddleware)
    app.add_middleware(BodyLimitMiddleware, limits=limits)
    app.add_middleware(RequestIdMiddleware)
    endpoint = DeliveryEndpoint(lambda: app.state.container)
    app.deliveries = RequestIdMiddleware(BodyLimitMiddleware(endpoint, limits))
    app.include_router(webhooks.router)
    app.include_router(health.router)  # first: /api/v1/integrations/health is not an id
    app.include_router(admin.router)
    app.include_router(keys.router)
    app.include_router(events.router)
    app.include_router(sync.router)
    app.include_router(ai.router)
    app.include_router(operators.router)
    app.include_router(notification_routes.router)
    return app


def _body_limits(settings: Settings | None, container: Container | None) -> BodyLimits:
    s = settings or (container.settings if container is not None else Settings())
    return BodyLimits(
        rules=(
            (webhooks.router.prefix + "/", s.max_webhook_body_bytes),
            ("/api/", s.max_api_body_bytes),
        )
    )
