"""`easyflow worker`: a Taskiq receiver on the Redis Streams broker, plus the recovery sweep."""

from __future__ import annotations

from taskiq.api import run_receiver_task

from easyflow.bootstrap import build_container, settle_start_up_objects
from easyflow.config import Settings
from easyflow.jobs.queue import periodic


async def run_worker(settings: Settings) -> None:
    container = build_container(settings)
    container.queue.broker.is_worker_process = True
    await container.start()
    settle_start_up_objects()
    try:
        async with (
            periodic("recovery", settings.recovery_interval_seconds, container.recovery.run),
            periodic(
                "operator-webhooks",
                settings.operator_webhook_interval_seconds,
                container.operator_webhooks.deliver_due,
            ),
        ):
            await run_receiver_task(container.queue.broker, max_async_tasks=50)
    finally:
        await container.aclose()
