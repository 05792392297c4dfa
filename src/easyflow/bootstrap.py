"""The composition root: builds every concrete piece from settings and wires the services.

Nothing else in the package picks an implementation. Tests pass `transports` (for example
`{"telegram": httpx.ASGITransport(sandbox.app)}`) to put a sandbox under the real adapters.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from easyflow.config import Settings
from easyflow.domain.errors import ConfigurationError, InvalidRequestError, NotFoundError
from easyflow.domain.tenancy import Capability, Integration
from easyflow.http import InMemoryRateLimiter, PlatformClient, RateLimiter, RetryPolicy
from easyflow.http.pooled import CookielessClient
from easyflow.http.transport import AiohttpTransport
from easyflow.http.webhook_poster import HttpWebhookPoster
from easyflow.jobs.queue import TaskiqQueue, build_broker
from easyflow.jobs.sync import SyncTasks
from easyflow.observability.logging import add_secret_patterns
from easyflow.observability.metrics import Metrics
from easyflow.platforms.registry import PlatformDefinition, PlatformRegistry
from easyflow.ports import ChatModel, Locks, Marketplace, Messenger, WebhookParser
from easyflow.services.assistants import AiCosts, AssistantChain, ChainPolicy
from easyflow.services.conversations import ReplyService
from easyflow.services.delivery_states import DeliveryStates
from easyflow.services.handover import HandoverService
from easyflow.services.health import IntegrationHealth
from easyflow.services.inbox import InboxService
from easyflow.services.integrations import IntegrationService
from easyflow.services.messaging import InboundProcessor
from easyflow.services.notifications import NotificationService
from easyflow.services.operator_events import OperatorWebhooks
from easyflow.services.operators import OperatorService
from easyflow.services.order_notifications import OrderNotifier
from easyflow.services.outbox import OutboxSender
from easyflow.services.recovery import RecoverySweep
from easyflow.services.retries import RetrySchedule
from easyflow.services.sync import SyncEngine
from easyflow.services.sync_schedule import SyncScheduler
from easyflow.services.tenants import TenantService
from easyflow.state.connection import redis_connection_options
from easyflow.state.cooldown import InMemoryCooldowns, RedisCooldowns
from easyflow.state.integration_cache import InMemoryIntegrationCache, RedisIntegrationCache
from easyflow.state.locks import InMemoryLocks, RedisLocks
from easyflow.state.ratelimit import RedisRateLimiter
from easyflow.storage import migrate
from easyflow.storage.crypto import CredentialCipher, SecretKeyMismatch
from easyflow.storage.engine import create_engine
from easyflow.storage.uow import SqlUnitOfWorkFactory
from easyflow.webhooks.intake import WebhookIntake

ReadinessCheck = Callable[[], Awaitable[None]]
# An AI provider that fails is not retried in place: the provider chain moves on to the next
# one at once (services/assistants.py), so a customer never waits out a backoff.
AI_RETRY = RetryPolicy(attempts=1)


class HttpClients:
    """One pooled httpx client per platform, shared by every tenant and so without cookies
    (`http.pooled`), over aiohttp (`http.transport`); a test or the demo may swap its
    transport."""

    def __init__(self, transports: Mapping[str, httpx.AsyncBaseTransport] | None = None) -> None:
        self._transports = dict(transports or {})
        self._clients: dict[str, httpx.AsyncClient] = {}

    def get(self, platform: str) -> httpx.AsyncClient:
        if platform not in self._clients:
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
            transport = self._transports.get(platform) or AiohttpTransport(limits)
            self._clients[platform] = CookielessClient(transport=transport)
        return self._clients[platform]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


class PlatformAdapters:
    """The Adapters port: builds adapters over PlatformClient from the registry's facts."""

    def __init__(
        self,
        registry: PlatformRegistry,
        settings: Settings,
        clients: HttpClients,
        limiter: RateLimiter,
        metrics: Metrics,
        retry: RetryPolicy,
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._clients = clients
        self._limiter = limiter
        self._metrics = metrics
        self._retry = retry
        self._accountless: dict[str, Any] = {}

    def offers(self, platform: str, capability: Capability) -> bool:
        return self._registry.get(platform).spec.offers(capability)

    def primary_capability(self, platform: str) -> Capability:
        return self._registry.get(platform).spec.primary

    def platforms_offering(self, capability: Capability) -> tuple[str, ...]:
        return tuple(d.name for d in self._registry.definitions() if d.spec.offers(capability))

    def idempotency_keys(self, platform: str) -> bool:
        return self._registry.get(platform).spec.idempotency_keys

    def webhook_parser(self, platform: str) -> WebhookParser:
        parser = self._registry.get(platform).webhook
        if parser is None:
            raise NotFoundError(f"{platform} does not send webhooks to this route")
        return parser

    def check_settings(self, platform: str, settings: Mapping[str, Any]) -> None:
        self._registry.get(platform).check_setting_changes(settings)

    def with_settings(self, integration: Integration, changes: Mapping[str, Any]) -> dict[str, Any]:
        definition = self._registry.get(integration.platform)
        definition.check_setting_changes(changes)
        settings = {
            k: v for k, v in (integration.settings | dict(changes)).items() if v is not None
        }
        try:  # what the adapter reads, it checks when it is built (a malformed template ...)
            self._build_for(definition, integration.credentials, settings)
        except ConfigurationError as exc:
            raise InvalidRequestError(f"{integration.platform} {exc}") from exc
        return settings

    def messenger(self, integration: Integration) -> Messenger:
        return self._build(integration, Capability.MESSENGER)

    def chat_model(self, integration: Integration | None, platform: str) -> ChatModel:
        if integration is None:
            return self._without_account(platform)
        return self._build(integration, Capability.CHAT_MODEL)

    def marketplace(self, integration: Integration) -> Marketplace:
        return self._build(integration, Capability.MARKETPLACE)

    def _without_account(self, platform: str) -> Any:
        """A platform that needs no credentials (the local responder), built once."""
        if platform not in self._accountless:
            definition = self._registry.get(platform)
            if not definition.spec.offers(Capability.CHAT_MODEL):
                raise InvalidRequestError(f"{platform} is not a chat model")
            if definition.credentials:
                raise NotFoundError(f"{platform} needs an integration: it has credentials")
            self._accountless[platform] = self._build_for(definition, {}, {})
        return self._accountless[platform]

    def _build(self, integration: Integration, capability: Capability) -> Any:
        definition = self._registry.get(integration.platform)
        if not definition.spec.offers(capability):
            offered = capability.replace("_", " ")
            raise InvalidRequestError(
                f"integration {integration.id} ({integration.platform}) is not a {offered}"
            )
        return self._build_for(definition, integration.credentials, integration.settings)

    def _build_for(
        self,
        definition: PlatformDefinition,
        credentials: dict[str, str],
        settings: dict[str, Any],
    ) -> Any:
        client = PlatformClient(
            definition.spec,
            http=self._clients.get(definition.name),
            classify=definition.classify,
            credentials=credentials,
            limiter=self._limiter,
            metrics=self._metrics,
            base_url=self._settings.base_url(definition.name, definition.spec.sandbox_mount),
            retry=AI_RETRY if definition.spec.offers(Capability.CHAT_MODEL) else self._retry,
        )
        return definition.build(client, settings)


@dataclass
class Container:
    settings: Settings
    engine: AsyncEngine
    uow: SqlUnitOfWorkFactory
    metrics: Metrics
    queue: TaskiqQueue
    adapters: PlatformAdapters
    tenants: TenantService
    integrations: IntegrationService
    intake: WebhookIntake
    inbox: InboxService
    inbound: InboundProcessor
    outbox: OutboxSender
    health: IntegrationHealth
    recovery: RecoverySweep
    clients: HttpClients
    integration_cache: InMemoryIntegrationCache
    ai_costs: AiCosts
    operators: OperatorService
    operator_webhooks: OperatorWebhooks
    redis: Any = None
    readiness: dict[str, ReadinessCheck] = field(default_factory=dict)
    sync: Any = None  # SyncEngine, SyncTasks, SyncScheduler (services/sync*.py, jobs/sync.py)
    sync_tasks: Any = None
    scheduler: Any = None
    notifications: Any = None  # NotificationService (services/notifications.py)

    async def start(self, *, check_secret_keys: bool = True) -> None:
        """Migrate the embedded database, refuse keys that cannot read what is stored, start
        the broker. Only `easyflow keys reencrypt` and `integrations remove` skip the key
        check: they are how an operator repairs what it finds."""
        if self.settings.is_embedded_database:
            await migrate.upgrade(self.settings.resolved_database_url)
        if check_secret_keys:
            await self.check_secret_keys()
        await self.queue.broker.startup()
        await self.integration_cache.start()

    async def check_secret_keys(self) -> None:
        """SecretKeyMismatch unless the configured keys decrypt every stored secret.

        A hub with a wrong key would report ready, fail every request touching those rows
        and encrypt new integrations with a key the other processes lack.
        """
        async with self.uow() as uow:
            unreadable, total = await uow.unreadable_secrets()
        if unreadable:
            raise SecretKeyMismatch(len(unreadable), total)

    async def aclose(self) -> None:
        await self.integration_cache.aclose()
        await self.queue.broker.shutdown()
        await self.clients.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()

    # The JobHandlers the queue runs.
    async def handle_inbound(self, event_id: int) -> None:
        await self.inbound.handle_inbound(event_id)

    async def send_outbox(self, outbox_id: int) -> None:
        await self.outbox.send_outbox(outbox_id)


def settle_start_up_objects() -> None:
    """Once a long-running process has started: collect, then move every object still alive
    (modules, the app, the container, compiled statements: ~170 000) into the collector's
    permanent generation, which its sweeps skip.

    A full collection walks every tracked object. Over what start-up leaves it took ~95 ms
    (bench machine), and one came every few seconds under load: on the embedded default it
    was the ~90 ms p99 of webhook acknowledgements, and it stalled a sync's event loop. The
    objects frozen are the ones that live as long as the process anyway. Only `serve` and
    `worker` call this, after start-up; a test process, which builds and drops hubs by the
    hundred, does not (what it froze would never be collected)."""
    gc.collect()
    gc.freeze()


def _shared_state(
    settings: Settings,
) -> tuple[Any, RateLimiter, Locks, InMemoryIntegrationCache]:
    ttl = settings.webhook_cache_seconds
    if settings.broker_url.startswith(("redis://", "rediss://")):
        import redis.asyncio as aioredis

        options = redis_connection_options(settings.redis_timeout_seconds)
        redis = aioredis.from_url(settings.broker_url, **options)
        cache = RedisIntegrationCache(redis, ttl)
        return redis, RedisRateLimiter(redis), RedisLocks(redis), cache
    return None, InMemoryRateLimiter(), InMemoryLocks(), InMemoryIntegrationCache(ttl)


def build_container(
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    retry: RetryPolicy | None = None,
    registry: PlatformRegistry | None = None,
) -> Container:
    registry = registry or PlatformRegistry()
    # Every process that talks to platforms builds this: from here on its logs mask their keys.
    add_secret_patterns(registry.secret_patterns())
    engine = create_engine(
        settings.resolved_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    uow = SqlUnitOfWorkFactory(engine, CredentialCipher(settings.fernet_keys()))
    metrics = Metrics()
    redis, limiter, locks, cache = _shared_state(settings)
    clients = HttpClients(transports)
    adapters = PlatformAdapters(
        registry, settings, clients, limiter, metrics, retry or RetryPolicy()
    )
    queue = TaskiqQueue(
        build_broker(
            settings.broker_url,
            settings.broker_idle_timeout_seconds,
            settings.redis_timeout_seconds,
        ),
        settings.job_concurrency,
    )
    cooldowns = RedisCooldowns(redis) if redis is not None else InMemoryCooldowns()
    policy = ChainPolicy(
        cooldown_seconds=settings.ai_cooldown_seconds,
        failure_threshold=settings.ai_failure_threshold,
        failure_window=settings.ai_cooldown_seconds,
        config_cooldown_seconds=settings.ai_config_cooldown_seconds,
        timeout_seconds=settings.ai_timeout_seconds,
    )
    chain = AssistantChain(adapters, metrics, cooldowns, policy)
    replies = ReplyService(uow, adapters, metrics, chain, integrations=cache)
    handover = HandoverService()
    outbox = OutboxSender(
        uow,
        adapters,
        locks,
        metrics,
        lease_seconds=settings.send_lease_seconds,
        retry=RetrySchedule(settings.retry_base_seconds, max_attempts=settings.outbox_max_attempts),
    )
    container = Container(
        settings=settings,
        engine=engine,
        uow=uow,
        metrics=metrics,
        queue=queue,
        adapters=adapters,
        tenants=TenantService(uow),
        integrations=IntegrationService(
            uow,
            adapters,
            registry.check_credentials,
            settings.public_url,
            timedelta(seconds=settings.webhook_secret_overlap_seconds),
            cache,
        ),
        intake=WebhookIntake(
            uow,
            adapters,
            queue,
            metrics,
            cache,
            tracker=DeliveryStates(uow, queue=queue),
            platforms=registry.webhook_platforms(),
        ),
        inbox=InboxService(uow, queue),
        inbound=InboundProcessor(
            uow,
            replies,
            queue,
            locks,
            metrics,
            settings.lock_ttl_seconds,
            RetrySchedule(settings.retry_base_seconds, max_attempts=settings.inbound_max_attempts),
            send_lease=settings.send_lease_seconds,
            direct_send=outbox.deliver_claimed,
            integrations=cache,
            handover=handover,
        ),
        outbox=outbox,
        health=IntegrationHealth(uow, adapters, metrics, settings.health_cache_seconds),
        recovery=RecoverySweep(uow, queue, metrics, settings.stuck_after_seconds),
        clients=clients,
        integration_cache=cache,
        ai_costs=AiCosts(uow),
        operators=OperatorService(uow, queue, handover, adapters),
        operator_webhooks=OperatorWebhooks(
            uow,
            HttpWebhookPoster(clients.get("operator_webhooks")),
            RetrySchedule(settings.retry_base_seconds, max_attempts=settings.outbox_max_attempts),
        ),
        redis=redis,
    )
    container.readiness = _readiness(engine, redis)
    queue.bind(container)
    container.sync = SyncEngine(uow, adapters, metrics, on_changes=OrderNotifier(queue))
    container.sync_tasks = SyncTasks(queue.broker, container.sync)
    container.scheduler = SyncScheduler(uow, container.sync, container.sync_tasks, locks, adapters)
    container.notifications = NotificationService(uow, queue)
    return container


def _readiness(engine: AsyncEngine, redis: Any) -> dict[str, ReadinessCheck]:
    async def database() -> None:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    checks: dict[str, ReadinessCheck] = {"database": database}
    if redis is not None:

        async def broker() -> None:
            await redis.ping()

        checks["broker"] = broker
    return checks
