"""Webhook delivery as the messenger platforms do it, for every emulator.

One `WebhookSender` per account (a Telegram bot, a WhatsApp number, a VK community, a Viber
bot) delivers its events to the URL the account registered:

- one chat at a time, in the order the events were made; chats in parallel, at most
  `max_in_flight` requests at once when the platform bounds it (Telegram's max_connections);
- the body and headers come from the emulator's `prepare` (which signs with the production
  scheme's `sign()`), so the hub sees the exact bytes and proof the platform sends;
- an attempt succeeds when `accept(response)` says so (2xx, or VK's exact `ok`); otherwise it
  is retried after the schedule's `next_delay` (a `RetrySchedule` of fixed waits, or the
  platform's own policy, e.g. Telegram's `Retry-After` and random cap) times `scale`, so
  tests run the real schedule in milliseconds, with `retry_headers(n)` (VK's
  `X-Retry-Counter`), until the schedule gives up; an event older than `expire_after` is
  dropped when its turn comes (Telegram's 24 h); `disable_after` consecutive failures stop
  the sender (VK turns a failing server off until it is re-enabled in the settings);
- every attempt goes into the `AttemptLog`, which the control API reads back, and to
  `on_attempt` (Telegram's getWebhookInfo keeps the last error); failures are described by
  `failure_text` in the platform's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from easyflow.sandbox.base import Clock
from easyflow.state.tasks import cancel_and_wait

Prepared = tuple[bytes, dict[str, str]]


@dataclass(frozen=True)
class RetrySchedule:
    """Seconds before each retry (the last one repeats), bounded by attempts and a horizon."""

    delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    max_attempts: int | None = 5
    horizon: float | None = None  # seconds after the event was made

    def delay(self, failed_attempts: int, age: float) -> float | None:
        """The wait before the next attempt, or None when the event is given up."""
        if self.max_attempts is not None and failed_attempts >= self.max_attempts:
            return None
        wait = self.delays[min(failed_attempts, len(self.delays)) - 1] if self.delays else 0.0
        if self.horizon is not None and age + wait > self.horizon:
            return None
        return wait

    def next_delay(
        self, pending: Pending, response: httpx.Response | None, age: float
    ) -> float | None:
        return self.delay(pending.attempts, age)


class Backoff(Protocol):
    """When a failed event is tried again: seconds to wait, or None to give it up."""

    def next_delay(
        self, pending: Pending, response: httpx.Response | None, age: float
    ) -> float | None: ...


@dataclass(frozen=True)
class Attempt:
    event_id: str
    chat: str
    attempt: int
    status: int | None
    error: str | None
    at: float
    retry_in: float | None = None  # None: delivered, or given up
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "chat": self.chat,
            "attempt": self.attempt,
            "status": self.status,
            "error": self.error,
            "at": self.at,
            "retry_in": self.retry_in,
        }


class AttemptLog:
    """Every delivery attempt of one account, oldest first."""

    def __init__(self) -> None:
        self._attempts: list[Attempt] = []

    def add(self, attempt: Attempt) -> None:
        self._attempts.append(attempt)

    def all(self, chat: str | None = None) -> list[Attempt]:
        return [a for a in self._attempts if chat is None or a.chat == chat]

    def delivered(self) -> list[Attempt]:
        return [a for a in self._attempts if a.ok]

    def clear(self) -> None:
        self._attempts.clear()


@dataclass
class Pending:
    event_id: str
    chat: str
    document: dict[str, Any]
    created_at: float
    seq: int
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


Accept = Callable[[httpx.Response], bool]
OnResponse = Callable[[Pending, httpx.Response], Awaitable[None]]


def accept_2xx(response: httpx.Response) -> bool:
    return 200 <= response.status_code < 300


def plain_failure_text(failure: httpx.Response | BaseException) -> str:
    if isinstance(failure, httpx.Response):
        return f"not accepted: HTTP {failure.status_code}"
    if isinstance(failure, httpx.TimeoutException):
        return "timeout"
    return f"connection failed: {type(failure).__name__}: {failure}"


class WebhookSender:
    """Delivers one account's events to its webhook URL (see the module docstring)."""

    def __init__(
        self,
        *,
        prepare: Callable[[dict[str, Any]], Prepared],
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None,
        schedule: Backoff,
        scale: float = 1.0,
        accept: Accept = accept_2xx,
        retry_headers: Callable[[int], dict[str, str]] | None = None,
        on_response: OnResponse | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
        failure_text: Callable[[httpx.Response | BaseException], str] = plain_failure_text,
        disable_after: int | None = None,
        expire_after: float | None = None,
        max_in_flight: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.url: str | None = None
        self.disabled = False
        self.log = AttemptLog()
        self._prepare = prepare
        self._clock = clock
        self._transport = transport
        self._schedule = schedule
        self._scale = scale
        self._accept = accept
        self._retry_headers = retry_headers or (lambda _n: {})
        self.on_response = on_response  # settable: it may need the account built after
        self._on_attempt = on_attempt
        self._failure_text = failure_text
        self._disable_after = disable_after
        self._expire_after = expire_after
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._timeout = timeout
        self._failures_in_a_row = 0
        self._queues: dict[str, deque[Pending]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._abandoned: set[asyncio.Task[None]] = set()
        self._seq = itertools.count(1)
        self._client: httpx.AsyncClient | None = None

    def send(self, chat: str, event_id: str, document: dict[str, Any]) -> Pending:
        """Queue an event for its chat; delivered in order once a URL is set."""
        pending = Pending(event_id, chat, document, self._clock(), next(self._seq))
        self._queues.setdefault(chat, deque()).append(pending)
        self.kick()
        return pending

    def kick(self) -> None:
        if not self.url or self.disabled:
            return
        for chat, queue in self._queues.items():
            worker = self._workers.get(chat)
            if queue and (worker is None or worker.done()):
                self._workers[chat] = asyncio.create_task(self._run(chat))

    def enable(self) -> None:
        self.disabled = False
        self._failures_in_a_row = 0
        self.kick()

    def pending(self) -> list[Pending]:
        return sorted((p for q in self._queues.values() for p in q), key=lambda p: p.seq)

    def discard(self, which: Callable[[Pending], bool] = lambda _p: True) -> None:
        """Forget the pending events `which` selects (all by default), undelivered."""
        for queue in self._queues.values():
            kept = [p for p in queue if not which(p)]
            queue.clear()
            queue.extend(kept)

    def stop(self) -> None:
        """Abandon the attempts in flight; pending events stay queued (see `restart`)."""
        for worker in self._workers.values():
            worker.cancel()
            self._abandoned.add(worker)  # awaited by aclose, so none outlives the sender
            worker.add_done_callback(self._abandoned.discard)
        self._workers.clear()

    def restart(self, url: str | None, max_in_flight: int | None = None) -> None:
        """The webhook changed: start over with the new URL and bound, pending events kept."""
        self.stop()
        self.url = url
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self.kick()

    def busy(self) -> bool:
        return any(not w.done() for w in self._workers.values())

    async def post_now(
        self, url: str, document: dict[str, Any], chat: str = ""
    ) -> httpx.Response | None:
        """One synchronous attempt outside the queues (set_webhook probes, confirmations)."""
        pending = Pending(
            str(document.get("event_id") or "probe"), chat, document, self._clock(), 0
        )
        status, error, response = await self._post(url, pending, {})
        self.log.add(Attempt(pending.event_id, chat, 1, status, error, self._clock()))
        return response

    async def get_now(self, url: str, params: dict[str, str]) -> httpx.Response | None:
        """A GET to the URL (WhatsApp's verification request); None when unreachable."""
        try:
            return await self._http().get(url, params=params)
        except httpx.HTTPError:
            return None

    async def aclose(self) -> None:
        tasks = [*self._workers.values(), *self._abandoned]
        self._workers.clear()
        await asyncio.gather(*(cancel_and_wait(task) for task in tasks))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def reset(self) -> None:
        self._queues.clear()
        self.log.clear()
        self.url = None
        self.disabled = False
        self._failures_in_a_row = 0

    # -- the per-chat worker

    async def _run(self, chat: str) -> None:
        queue = self._queues[chat]
        while queue and self.url and not self.disabled:
            head = queue[0]
            if self._expired(head):
                self._pop(queue, head)
                self._record(head, None, "expired")
                continue
            head.attempts += 1
            status, error, response = await self._attempt(
                self.url, head, self._retry_headers(head.attempts - 1) if head.attempts > 1 else {}
            )
            if error is None:
                self._failures_in_a_row = 0
                self._record(head, status, None)
                self._pop(queue, head)
                if self.on_response is not None and response is not None:
                    await self.on_response(head, response)
                continue
            self._failures_in_a_row += 1
            wait = self._schedule.next_delay(head, response, self._clock() - head.created_at)
            self._record(head, status, error, wait)
            if self._disable_after is not None and self._failures_in_a_row >= self._disable_after:
                self.disabled = True
                return
            if wait is None:
                self._pop(queue, head)  # given up: the platform drops it
                continue
            await asyncio.sleep(wait * self._scale)

    def _expired(self, pending: Pending) -> bool:
        age = self._clock() - pending.created_at
        return self._expire_after is not None and age >= self._expire_after

    @staticmethod
    def _pop(queue: deque[Pending], head: Pending) -> None:
        # Unless `discard` took it while it was on the wire.
        if queue and queue[0] is head:
            queue.popleft()

    def _record(
        self, head: Pending, status: int | None, error: str | None, wait: float | None = None
    ) -> None:
        attempt = Attempt(
            head.event_id, head.chat, head.attempts, status, error, self._clock(), wait
        )
        self.log.add(attempt)
        if self._on_attempt is not None:
            self._on_attempt(attempt)

    async def _attempt(
        self, url: str, pending: Pending, extra_headers: dict[str, str]
    ) -> tuple[int | None, str | None, httpx.Response | None]:
        slots = self._slots or contextlib.nullcontext()
        async with slots:
            return await self._post(url, pending, extra_headers)

    async def _post(
        self, url: str, pending: Pending, extra_headers: dict[str, str]
    ) -> tuple[int | None, str | None, httpx.Response | None]:
        body, headers = self._prepare(pending.document)
        headers = {"Content-Type": "application/json", **headers, **extra_headers}
        try:
            response = await self._http().post(url, content=body, headers=headers)
        except Exception as exc:  # any failure is a failed attempt, never a dead queue
            return None, self._failure_text(exc), None
        if self._accept(response):
            return response.status_code, None, response
        return response.status_code, self._failure_text(response), response

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        return self._client
