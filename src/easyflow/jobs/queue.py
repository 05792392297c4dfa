"""The TaskQueue port on Taskiq. Tasks carry ids only; handlers read the rows.

Embedded default: Taskiq's in-memory broker runs the tasks inside the serving process.
Scale-out: a Redis Streams broker (acknowledged delivery; an unacknowledged task is
reclaimed after its idle timeout) and `easyflow worker` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import structlog
from taskiq import AsyncBroker, BrokerMessage, InMemoryBroker
from taskiq.formatters.proxy_formatter import ProxyFormatter

from easyflow.http.ratelimit import WHILE_WAITING
from easyflow.observability.ids import new_id
from easyflow.state.connection import redis_connection_options
from easyflow.state.errors import transient_redis_errors
from easyflow.state.tasks import cancel_and_wait

log = structlog.get_logger("easyflow.jobs")

PROCESS_INBOUND = "easyflow.process_inbound"
SEND_OUTBOX = "easyflow.send_outbox"


class JobHandlers(Protocol):
    async def handle_inbound(self, event_id: int) -> None: ...

    async def send_outbox(self, outbox_id: int) -> None: ...


# How long a worker's stream read waits for a task before asking again (taskiq-redis's
# xread_block): a read's reply may take this long plus the Redis timeout.
READ_BLOCK_MS = 2000


def build_broker(
    broker_url: str, idle_timeout_seconds: float = 60.0, redis_timeout_seconds: float = 5.0
) -> AsyncBroker:
    if broker_url.startswith("memory"):
        return InMemoryBroker(max_async_tasks=100).with_id_generator(new_id)
    if broker_url.startswith(("redis://", "rediss://")):
        from easyflow.jobs.redis_broker import ResilientRedisStreamBroker

        # idle_timeout: a task unacknowledged this long (its worker died, with the tasks it
        # had prefetched) is redelivered to another worker. Handlers are idempotent, so a
        # slow task redelivered early costs a no-op; a short timeout keeps a dead worker's
        # backlog from waiting minutes (the sweep would hand it out even sooner).
        return ResilientRedisStreamBroker(
            broker_url,
            queue_name="easyflow",
            idle_timeout=int(idle_timeout_seconds * 1000),
            xread_block=READ_BLOCK_MS,
            **redis_connection_options(redis_timeout_seconds + READ_BLOCK_MS / 1000),
        ).with_id_generator(new_id)
    raise ValueError(f"unsupported broker URL {broker_url!r} (memory:// or redis://)")


class Slots:
    """At most `count` jobs at once; a job lends its slot while it waits out a rate limit.

    `held()` is entered around a job. While the job sleeps on a platform's rate limit (a
    chat's one message a second) its slot is free for another job, and taken back, waiting
    its turn, before the job goes on (`easyflow.http.ratelimit.WHILE_WAITING`).
    """

    def __init__(self, count: int) -> None:
        self._free = asyncio.Semaphore(count)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        await self._free.acquire()
        holding = [True]
        owner = asyncio.current_task()
        token = WHILE_WAITING.set(lambda: self._lent(holding, owner))
        try:
            yield
        finally:
            WHILE_WAITING.reset(token)
            if holding[0]:
                self._free.release()

    @contextlib.asynccontextmanager
    async def _lent(
        self, holding: list[bool], owner: asyncio.Task[Any] | None
    ) -> AsyncIterator[None]:
        # A task the job started inherits the context, not the slot: only the job lends it.
        if asyncio.current_task() is not owner or not holding[0]:
            yield
            return
        self._free.release()
        holding[0] = False
        try:
            yield
        finally:
            await self._free.acquire()  # cancelled here: not holding, nothing to give back
            holding[0] = True


class TaskiqQueue:
    """Kicks tasks by name; `bind()` registers the handlers that run them.

    At most `concurrency` inbound handlers run at once in this process, and beside them at
    most `concurrency` sends. Taskiq's in-memory broker starts a task per kick, so a burst of
    webhooks would otherwise open a database connection per event at once and exhaust the
    pool. Sends have slots of their own so that replies never wait behind new inbound work:
    a backlog of messages slows the next answers, not the delivery of those already made.
    """

    def __init__(self, broker: AsyncBroker, concurrency: int = 16) -> None:
        self.broker = broker
        self._tasks: dict[str, Any] = {}
        # Per task, the message taskiq would send, as a dict to fill in (`_kick`); empty when
        # the broker's middlewares or formats are not the stock ones this mirrors.
        self._wire: dict[str, dict[str, Any]] = {}
        self._inbound_slots = Slots(concurrency)
        self._send_slots = Slots(concurrency)

    def bind(self, handlers: JobHandlers) -> None:
        async def process_inbound(event_id: int) -> None:
            async with self._inbound_slots.held():
                await handlers.handle_inbound(event_id)

        async def send_outbox(outbox_id: int) -> None:
            async with self._send_slots.held():
                await handlers.send_outbox(outbox_id)

        self._tasks[PROCESS_INBOUND] = self.broker.register_task(
            process_inbound, task_name=PROCESS_INBOUND
        )
        self._tasks[SEND_OUTBOX] = self.broker.register_task(send_outbox, task_name=SEND_OUTBOX)
        self._wire = {name: wire for name in self._tasks if (wire := self._stock_wire(name))}

    def _stock_wire(self, name: str) -> dict[str, Any] | None:
        """The JSON fields of this task's message as taskiq's own `kiq` serialises them, if
        this broker sends them the stock way (no middleware; ProxyFormatter: the model's JSON
        dump through the broker's serializer):
        checked against taskiq's own output, so a taskiq that changes its format is noticed
        and its `kiq` used instead."""
        broker = self.broker
        if broker.middlewares or type(broker.formatter) is not ProxyFormatter:
            return None
        message = self._tasks[name].kicker().with_task_id("probe")._prepare_message(1)
        wire = message.model_dump(mode="json")
        if broker.formatter.dumps(message).message != broker.serializer.dumpb(wire):
            return None
        return wire

    async def _kick(self, name: str, row_id: int) -> None:
        wire = self._wire.get(name)
        if wire is None:
            await self._tasks[name].kiq(row_id)
            return
        # What `kiq` sends, without its pydantic round (model, dump, copy: most of a kick's
        # CPU on the webhook's hot path) and without a result handle nobody reads.
        task_id = self.broker.id_generator()
        data = self.broker.serializer.dumpb({**wire, "task_id": task_id, "args": [row_id]})
        await self.broker.kick(BrokerMessage(task_id=task_id, task_name=name, message=data,
                                             labels=wire["labels"]))  # fmt: skip

    async def process_inbound(self, event_id: int) -> None:
        with transient_redis_errors("enqueue"):  # the row is committed: the sweep finds it
            await self._kick(PROCESS_INBOUND, event_id)

    async def send_outbox(self, outbox_id: int) -> None:
        with transient_redis_errors("enqueue"):
            await self._kick(SEND_OUTBOX, outbox_id)

    def busy(self) -> bool:
        """True while an in-process task runs (in-memory broker; always False otherwise)."""
        # Taskiq exposes only wait_all(); its task set tells whether a task kicked another.
        return bool(getattr(self.broker, "_running_tasks", ()))

    async def wait_idle(self) -> None:
        """Until every in-process task has finished (in-memory broker; used by tests, demo)."""
        if isinstance(self.broker, InMemoryBroker):
            while True:
                await self.broker.wait_all()
                await asyncio.sleep(0)
                if not self.busy():
                    return


async def run_periodically(name: str, interval: float, job: Callable[[], Awaitable[Any]]) -> None:
    """Run `job` every `interval` seconds until cancelled; a failure is logged, not fatal."""
    while True:
        await asyncio.sleep(interval)
        try:
            await job()
        except Exception:
            log.exception("periodic job failed", job=name)


@contextlib.asynccontextmanager
async def periodic(name: str, interval: float, job: Callable[[], Awaitable[Any]]) -> Any:
    task = asyncio.create_task(run_periodically(name, interval, job), name=name)
    try:
        yield task
    finally:
        # Bounded, and repeated if a job swallows the cancellation: a lifespan that never
        # ends would hold `serve` (and a test's teardown) forever.
        await cancel_and_wait(task)
