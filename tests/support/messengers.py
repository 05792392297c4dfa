"""One harness per messenger for the contract suite: its sandbox account, its adapter over
real HTTP, and a receiver that runs the production inbound code on what the sandbox sends;
and `connect`, which connects a messenger to an in-process hub the seller's way.

Nothing here names a platform: accounts come from the sandbox's catalog, and the webhook is
registered the platform's way, by the hub's adapter (`set_webhook`) and, where the platform
has one, the seller's console step its sandbox package declares.

The receiver is the hub's inbound path without the database: verify with the platform's
scheme and key, answer handshakes, parse into typed events, answer in the platform's form.
Every request the sandbox makes is kept, raw bytes and headers, for the signature tests.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from easyflow.domain.errors import WebhookSignatureError
from easyflow.domain.messaging import WebhookEvent, WebhookRegistration
from easyflow.domain.tenancy import Capability, Integration, IntegrationStatus
from easyflow.http import InMemoryRateLimiter, PlatformClient, RetryPolicy
from easyflow.observability.metrics import Metrics
from easyflow.platforms.registry import PlatformRegistry
from easyflow.ports import MessengerWebhook
from easyflow.sandbox.server import Sandbox, SandboxConfig, create_sandbox_app
from easyflow.webhooks.inbound import HandshakeRefusedError, full_parser
from easyflow.webhooks.payloads import decode_json
from support.hub import HUB_URL, Hub, messenger_demo_config

HOOK = "http://127.0.0.1:9/hook"  # loopback: the Telegram sandbox accepts plain http there
SECRET = "hub-made_webhook-secret-0123456789"
FAST = RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.02, max_retry_after=5)
REGISTRY = PlatformRegistry()


@dataclass
class Received:
    request: httpx.Request
    body: bytes
    events: list[WebhookEvent]


@dataclass
class Receiver:
    """The production inbound code behind an httpx transport (see the module docstring)."""

    webhook: MessengerWebhook
    integration: Integration
    received: list[Received] = field(default_factory=list)
    refused: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        try:
            if request.method == "GET":
                reply = self.webhook.handshake(self.integration, dict(request.url.params))
            else:
                body = request.content
                secrets = self.webhook.signing_secrets(self.integration)
                self.webhook.scheme.verify(secrets, request.headers, body)
                document = decode_json(body)
                reply = self.webhook.challenge(self.integration, document)
                if reply is None:
                    events = self.webhook.parse_events(document)
                    self.received.append(Received(request, body, events))
                    reply = self.webhook.reply(events)
        except HandshakeRefusedError:
            self.refused.append(request)
            return httpx.Response(403, text="forbidden")
        except WebhookSignatureError:
            self.refused.append(request)
            return httpx.Response(401, json={"detail": "unauthorized"})
        return httpx.Response(
            reply.status, content=reply.body, headers={"content-type": reply.content_type}
        )

    def events(self) -> list[WebhookEvent]:
        return [e for r in self.received for e in r.events]


class Recording(httpx.AsyncBaseTransport):
    """The adapter's transport: the sandbox, with every request kept."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@dataclass
class Messenger:
    """One platform under test: its names, account, adapter and receiver."""

    platform: str
    sandbox: Sandbox
    credentials: dict[str, str]
    receiver: Receiver
    wire: Recording
    adapter: Any
    chat: str  # a customer who has written
    connect: Callable[[], Awaitable[None]]  # register the webhook the platform's way

    @property
    def webhook(self) -> MessengerWebhook:
        return self.receiver.webhook


def integration_for(platform: str, credentials: dict[str, str]) -> Integration:
    return Integration(
        id=1,
        tenant_id=1,
        platform=platform,
        kind=Capability.MESSENGER,
        name=platform,
        status=IntegrationStatus.ACTIVE,
        credentials=credentials,
        settings={"account_name": "Hub Sandbox Shop"},
        created_at=datetime.now(UTC),
        webhook_secrets=(SECRET,),
    )


def adapter_for(
    sandbox: Sandbox, platform: str, credentials: dict[str, str], wire: Recording | None = None
) -> Any:
    definition = REGISTRY.get(platform)
    client = PlatformClient(
        definition.spec,
        http=httpx.AsyncClient(transport=wire or httpx.ASGITransport(sandbox.app)),
        classify=definition.classify,
        credentials=credentials,
        limiter=InMemoryRateLimiter(),
        metrics=Metrics(),
        base_url=f"http://sandbox{definition.spec.sandbox_mount}",
        retry=FAST,
    )
    return definition.build(client, {"account_name": "Hub Sandbox Shop"})


def sandbox_config() -> SandboxConfig:
    return messenger_demo_config(retry_delay_scale=0.001)


class Dispatch:
    """Routes the sandbox's webhook requests to the receiver of their platform."""

    def __init__(self) -> None:
        self.receivers: dict[str, Receiver] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        platform = request.url.path.rsplit("/", 1)[-1]
        return self.receivers[platform].handle(request)


async def open_messenger(platform: str) -> Messenger:
    dispatch = Dispatch()
    sandbox = create_sandbox_app(sandbox_config(), webhook_transport=httpx.MockTransport(dispatch))
    url = f"{HOOK}/{platform}"
    credentials = sandbox.accounts(platform)[0]  # the package's demo account
    receiver = Receiver(
        full_parser(REGISTRY.get(platform).webhook),  # type: ignore[arg-type]
        integration_for(platform, credentials),
    )
    dispatch.receivers[platform] = receiver
    wire = Recording(httpx.ASGITransport(sandbox.app))
    adapter = adapter_for(sandbox, platform, credentials, wire)

    async def connect() -> None:
        # What the hub does when it is added (WhatsApp and VK answer what to paste), then what
        # the seller does in the platform's console, where there is something to do.
        await adapter.set_webhook(WebhookRegistration(url, SECRET, ()))
        await sandbox.register_webhook(platform, credentials, url, SECRET)

    return Messenger(platform, sandbox, credentials, receiver, wire, adapter, "", connect)


def body_of(received: Received) -> Any:
    return json.loads(received.body)


def webhook_path(platform: str, integration_id: int) -> str:
    return f"/api/v1/messaging/webhook/{platform}/{integration_id}"


async def connect(hub: Hub, platform: str) -> Integration:
    """The tenant's `platform` integration, connected the seller's way if it has none yet.

    The sandbox's demo account is added (the hub registers the webhook where the platform
    lets it: Telegram, Viber), then the seller does the console step the platform's sandbox
    package declares (WhatsApp: callback URL and verify token; VK: a Callback API server).
    """
    for existing in await hub.container.integrations.list(hub.tenant_id):
        if existing.platform == platform:
            return existing
    credentials = hub.sandbox.accounts(platform)[0]
    integration = await hub.container.integrations.add(hub.tenant_id, platform, credentials)
    url = HUB_URL + webhook_path(platform, integration.id)
    await hub.sandbox.register_webhook(platform, credentials, url, integration.webhook_secrets[0])
    return integration
