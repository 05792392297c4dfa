"""Webhook delivery the way the Bot API server does it (https://core.telegram.org/bots/api#setwebhook).

- `POST <url>`, `Content-Type: application/json`, body = one Update, and the secret header
  produced by the production `SecretTokenHeader.sign()`;
- per chat: one update at a time in update_id order, the next only after a 2xx (a failing
  update blocks its chat); chats in parallel, at most `max_connections` requests in flight;
- after a failure: retry immediately, then 2, 4, 8 ... s capped at a random 60-120 s, or the
  `Retry-After` of the failed response clamped to 3600 s; drop the update 24 h after it was
  created;
- a 2xx JSON body carrying `method` is executed as a Bot API call ("reply to webhook").

Waits are multiplied by `retry_delay_scale` so tests run the real schedule in milliseconds.
Every attempt is recorded on the bot. Tasks live on the event loop that queued the update.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from easyflow.sandbox.base import Clock, dumps
from easyflow.sandbox.telegram.state import BotState, DeliveryAttempt, PendingUpdate
from easyflow.state.tasks import cancel_and_wait
from easyflow.webhooks.schemes import SecretTokenHeader

SECRET_HEADER = SecretTokenHeader("X-Telegram-Bot-Api-Secret-Token")
MAX_RETRY_AFTER = 3600.0
# Methods Telegram ignores when they come back in a webhook reply.
_NOT_IN_REPLY = frozenset({"setwebhook", "deletewebhook", "close", "logout"})

ReplyHandler = Callable[[BotState, dict[str, Any]], Awaitable[None]]


class WebhookDispatcher:
    """Delivers the pending updates of every bot whose webhook is set."""

    def __init__(
        self,
        *,
        clock: Clock,
        rng: random.Random,
        scale: float,
        ttl: float,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None,
        on_reply: ReplyHandler,
    ) -> None:
        self._clock = clock
        self._rng = rng
        self._scale = scale
        self._ttl = ttl
        self._timeout = timeout
        self._transport = transport
        self._on_reply = on_reply
        self._client: httpx.AsyncClient | None = None
        self._workers: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._slots: dict[str, asyncio.Semaphore] = {}

    def kick(self, bot: BotState) -> None:
        """Start a worker for every chat of `bot` with pending updates (webhook set)."""
        if not bot.webhook.url:
            return
        for chat_key in {u.chat_key for u in bot.pending.values()}:
            key = (bot.token, chat_key)
            if key not in self._workers or self._workers[key].done():
                self._workers[key] = asyncio.create_task(self._run_chat(bot, chat_key))

    def restart(self, bot: BotState) -> None:
        """The webhook changed: abandon in-flight work and start over with the new settings."""
        self.stop(bot)
        self._slots[bot.token] = asyncio.Semaphore(bot.webhook.max_connections)
        self.kick(bot)

    def stop(self, bot: BotState) -> None:
        for key in [k for k in self._workers if k[0] == bot.token]:
            self._workers.pop(key).cancel()

    def busy(self) -> bool:
        return any(not task.done() for task in self._workers.values())

    async def aclose(self) -> None:
        tasks = list(self._workers.values())
        self._workers.clear()
        await asyncio.gather(*(cancel_and_wait(task) for task in tasks))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run_chat(self, bot: BotState, chat_key: int) -> None:
        while bot.webhook.url:
            update = _head_of_chat(bot, chat_key)
            if update is None:
                return
            if self._clock() >= update.created_at + self._ttl:
                self._drop_expired(bot, update)
                continue
            delay = await self._attempt(bot, update)
            if delay is None:
                bot.pending.pop(update.update_id, None)
            else:
                await asyncio.sleep(delay * self._scale)

    async def _attempt(self, bot: BotState, update: PendingUpdate) -> float | None:
        """POST once; None on success, else the seconds to wait before the next try."""
        update.attempts += 1
        slots = self._slots.setdefault(bot.token, asyncio.Semaphore(bot.webhook.max_connections))
        async with slots:
            status, error, response = await self._post(bot, update)
        ok = status is not None and 200 <= status < 300
        delay = None if ok else self._next_delay(update, response)
        bot.deliveries.append(
            DeliveryAttempt(
                update.update_id,
                update.chat_key,
                update.attempts,
                status,
                error,
                self._clock(),
                delay,
            )
        )
        if ok and response is not None:
            await self._maybe_reply(bot, response)
        elif not ok:
            bot.last_error_date = int(self._clock())
            bot.last_error_message = error
        return delay

    async def _post(
        self, bot: BotState, update: PendingUpdate
    ) -> tuple[int | None, str | None, httpx.Response | None]:
        body = dumps(update.payload)
        headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip, deflate"}
        if bot.webhook.secret_token:
            headers.update(SECRET_HEADER.sign(bot.webhook.secret_token, body))
        try:
            response = await self._http().post(bot.webhook.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, "Read timeout expired", None
        except Exception as exc:  # any failure is a failed attempt, never a dead chat queue
            return None, f"Connection failed: {type(exc).__name__}: {exc}", None
        if 200 <= response.status_code < 300:
            return response.status_code, None, response
        reason = f"{response.status_code} {response.reason_phrase}".strip()
        return response.status_code, f"Wrong response from the webhook: {reason}", response

    def _next_delay(self, update: PendingUpdate, response: httpx.Response | None) -> float:
        hinted = _retry_after(response)
        if hinted is not None:
            return min(hinted, MAX_RETRY_AFTER)
        if update.attempts <= 1:
            return 0.0
        if update.retry_cap is None:
            update.retry_cap = self._rng.uniform(60.0, 120.0)
        return min(2.0 ** (update.attempts - 1), update.retry_cap)

    def _drop_expired(self, bot: BotState, update: PendingUpdate) -> None:
        bot.pending.pop(update.update_id, None)
        bot.deliveries.append(
            DeliveryAttempt(
                update.update_id, update.chat_key, update.attempts, None, "expired", self._clock()
            )
        )

    async def _maybe_reply(self, bot: BotState, response: httpx.Response) -> None:
        try:
            data = json.loads(response.content) if response.content else None
        except ValueError:
            return
        if not isinstance(data, dict) or not isinstance(data.get("method"), str):
            return
        method = data["method"].lower()
        if method.startswith("get") or method in _NOT_IN_REPLY:
            return
        await self._on_reply(bot, data)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        return self._client


def _head_of_chat(bot: BotState, chat_key: int) -> PendingUpdate | None:
    return min(
        (u for u in bot.pending.values() if u.chat_key == chat_key),
        key=lambda u: u.update_id,
        default=None,
    )


def _retry_after(response: httpx.Response | None) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
