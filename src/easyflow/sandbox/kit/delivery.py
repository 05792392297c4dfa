"""Webhook delivery as the messenger platforms do it, for every emulator.

One `WebhookSender` per account (a WhatsApp number, a VK community, a Viber bot) delivers
its events to the URL the account registered:

- one chat at a time, in the order the events were made; chats in parallel;
- the body and headers come from the emulator's `prepare` (which signs with the production
  scheme's `sign()`), so the hub sees the exact bytes and proof the platform sends;
- an attempt succeeds when `accept(response)` says so (2xx, or VK's exact `ok`); otherwise it
  is retried after `schedule.delay(n)` seconds (times `scale`, so tests run the real schedule
  in milliseconds), with `retry_headers(n)` (VK's `X-Retry-Counter`), until the schedule's
  attempts or horizon run out; `disable_after` consecutive failures stop the sender (VK turns
  a failing server off until it is re-enabled in the settings);
- every attempt goes into the `AttemptLog`, which the control API reads back.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

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


class WebhookSender:
    """Delivers one account's events to its webhook URL (see the module docstring)."""

    def __init__(
        self,
        *,
        prepare: Callable[[dict[str, Any]], Prepared],
        clock: Clock,
        transport: httpx.AsyncBaseTransport | None,
        schedule: RetrySchedule,
        scale: float = 1.0,
        accept: Accept = accept_2xx,
        retry_headers: Callable[[int], dict[str, str]] | None = None,
        on_response: OnResponse | None = None,
        disable_after: int | None = None,
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
        self._disable_after = disable_after
        self._timeout = timeout
        self._failures_in_a_row = 0
        self._queues: dict[str, deque[Pending]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
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
        tasks = list(self._workers.values())
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
            head.attempts += 1
            status, error, response = await self._post(
                self.url, head, self._retry_headers(head.attempts - 1) if head.attempts > 1 else {}
            )
            if error is None:
                self._failures_in_a_row = 0
                self.log.add(
                    Attempt(head.event_id, chat, head.attempts, status, None, self._clock())
                )
                queue.popleft()
                if self.on_response is not None and response is not None:
                    await self.on_response(head, response)
                continue
            self._failures_in_a_row += 1
            wait = self._schedule.delay(head.attempts, self._clock() - head.created_at)
            self.log.add(
                Attempt(head.event_id, chat, head.attempts, status, error, self._clock(), wait)
            )
            if self._disable_after is not None and self._failures_in_a_row >= self._disable_after:
                self.disabled = True
                return
            if wait is None:
                queue.popleft()  # given up: the platform drops it
                continue
            await asyncio.sleep(wait * self._scale)

    async def _post(
        self, url: str, pending: Pending, extra_headers: dict[str, str]
    ) -> tuple[int | None, str | None, httpx.Response | None]:
        body, headers = self._prepare(pending.document)
        headers = {"Content-Type": "application/json", **headers, **extra_headers}
        try:
            response = await self._http().post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return None, "timeout", None
        except Exception as exc:  # any failure is a failed attempt, never a dead queue
            return None, f"connection failed: {type(exc).__name__}: {exc}", None
        if self._accept(response):
            return response.status_code, None, response
        return response.status_code, f"not accepted: HTTP {response.status_code}", response

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        return self._client
