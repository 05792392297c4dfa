"""The integrations webhook intake verifies against, cached in process (`ports.IntegrationCache`).

Intake would otherwise read and decrypt the integration on every delivery: a round trip and
a Fernet decryption per request. Entries are keyed by (platform, id) and, for the
single-channel route, by a digest of each webhook secret; bounded (least recently used go
first) and short-lived (`ttl` seconds, and never past the moment a rotated-out secret
expires, so the overlap ends on time).

Each tenant's chat-model integrations (what the reply to every message needs) are kept too;
any invalidation drops them all, since an added integration is known by its id alone.

IntegrationService invalidates an entry on add, pause, resume, rotate and delete. With Redis
the invalidation is also published, and every process drops the entry on receipt; a process
that lost its subscription (Redis restarted) clears everything when it subscribes again,
since it may have missed a message. The TTL is the safety net for what neither covers (a CLI
process on the embedded default changing the file under a running `serve`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import structlog

from easyflow.domain.tenancy import Integration
from easyflow.state.tasks import cancel_and_wait, cancelling

log = structlog.get_logger("easyflow.integration_cache")

CHANNEL = "easyflow:integration-cache:invalidate"
DEFAULT_MAX_ENTRIES = 10_000
_RESUBSCRIBE_SECONDS = 1.0


def _digest(platform: str, secret: str) -> bytes:
    return hashlib.sha256(f"{platform}\0{secret}".encode()).digest()


class InMemoryIntegrationCache:
    """LRU + TTL over decrypted integrations; `ttl <= 0` caches nothing."""

    def __init__(self, ttl: float, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._ttl = ttl
        self._max = max_entries
        # (platform, id) -> (integration, monotonic expiry)
        self._entries: OrderedDict[tuple[str, int], tuple[Integration, float]] = OrderedDict()
        self._by_secret: dict[bytes, tuple[str, int]] = {}
        # tenant -> (its chat-model integrations, monotonic expiry): read for every message
        # to answer. Any invalidation empties it: an added integration names no tenant.
        self._models: OrderedDict[int, tuple[tuple[Integration, ...], float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, platform: str, integration_id: int) -> Integration | None:
        key = (platform, integration_id)
        entry = self._entries.get(key)
        if entry is None:
            return None
        integration, expires = entry
        if time.monotonic() >= expires:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return integration

    def find(self, platform: str, secret: str) -> Integration | None:
        """The integration one of whose current secrets digests like `secret` (the caller
        still verifies in constant time)."""
        key = self._by_secret.get(_digest(platform, secret))
        return None if key is None else self.get(*key)

    def put(self, integration: Integration) -> None:
        if self._ttl <= 0:
            return
        lifetime = self._ttl
        until = integration.previous_secret_expires_at  # then the set of secrets shrinks
        if until is not None:
            lifetime = min(lifetime, (until - datetime.now(UTC)).total_seconds())
        if lifetime <= 0:
            return
        key = (integration.platform, integration.id)
        self._drop(key)
        self._entries[key] = (integration, time.monotonic() + lifetime)
        for secret in integration.webhook_secrets:
            self._by_secret[_digest(integration.platform, secret)] = key
        while len(self._entries) > self._max:
            self._drop(next(iter(self._entries)))

    def chat_models(self, tenant_id: int) -> tuple[Integration, ...] | None:
        """The tenant's chat-model integrations as last put, or None when not cached."""
        entry = self._models.get(tenant_id)
        if entry is None:
            return None
        if time.monotonic() >= entry[1]:
            del self._models[tenant_id]
            return None
        self._models.move_to_end(tenant_id)
        return entry[0]

    def put_chat_models(self, tenant_id: int, integrations: tuple[Integration, ...]) -> None:
        if self._ttl <= 0:
            return
        self._models[tenant_id] = (integrations, time.monotonic() + self._ttl)
        self._models.move_to_end(tenant_id)
        while len(self._models) > self._max:
            self._models.popitem(last=False)

    def drop(self, integration_id: int) -> None:
        for key in [k for k in self._entries if k[1] == integration_id]:
            self._drop(key)
        self._models.clear()

    def clear(self) -> None:
        self._entries.clear()
        self._by_secret.clear()
        self._models.clear()

    async def invalidate(self, integration_id: int) -> None:
        self.drop(integration_id)

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def _drop(self, key: tuple[str, int]) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        for secret in entry[0].webhook_secrets:
            digest = _digest(key[0], secret)
            if self._by_secret.get(digest) == key:
                del self._by_secret[digest]


class RedisIntegrationCache(InMemoryIntegrationCache):
    """The in-process cache, plus invalidations published to and received from every
    process sharing the Redis."""

    def __init__(self, redis: Any, ttl: float, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        super().__init__(ttl, max_entries)
        self._redis = redis
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    def put(self, integration: Integration) -> None:
        # Unsubscribed, an invalidation could pass unseen: cache nothing until subscribed.
        if self._subscribed.is_set():
            super().put(integration)

    def put_chat_models(self, tenant_id: int, integrations: tuple[Integration, ...]) -> None:
        if self._subscribed.is_set():
            super().put_chat_models(tenant_id, integrations)

    async def invalidate(self, integration_id: int) -> None:
        self.drop(integration_id)
        try:
            await self._redis.publish(CHANNEL, str(integration_id))
        except Exception as exc:  # the TTL bounds what other processes keep meanwhile
            log.warning("could not publish a cache invalidation", error=str(exc))

    async def start(self) -> None:
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="integration-cache")

    async def wait_subscribed(self) -> None:
        await self._subscribed.wait()

    async def aclose(self) -> None:
        if self._listener is not None:
            await cancel_and_wait(self._listener)
            self._listener = None

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.clear()  # anything published while unsubscribed was missed
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        self._receive(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if cancelling():  # redis-py reported our own cancellation as a dropped read
                    raise asyncio.CancelledError from exc
                self._subscribed.clear()
                self.clear()
                log.warning("cache invalidations unavailable; retrying", error=str(exc))
                await asyncio.sleep(_RESUBSCRIBE_SECONDS)

    def _receive(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            self.drop(int(message["data"]))
        except (TypeError, ValueError):
            self.clear()
