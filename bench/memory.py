"""RSS against the number of distinct chats a hub process has served (issue 6, item 4).

    python bench/memory.py [--chats 1000,1000000] [--json]

One fresh process builds the real container (`build_container`, embedded default) and serves
N distinct chats through the per-chat paths that keep state in process: a reply to each chat
through the real Telegram messenger (`PlatformClient`: rate-limit buckets per chat, metrics),
answered by an in-process fake of sendMessage, and the chat's conversation lock held and
released as the inbound processor does. No database work: it is the same per chat, whatever
the number of chats. RSS (after `gc.collect()`) is read at each checkpoint; the figure is
RSS(1,000,000) - RSS(1,000), which item 4 wants within 50 MB.

The rate limiter's sleep is skipped and its clock is virtual, advanced by each skipped sleep (its
bookkeeping runs as usual), so a million chats take minutes instead of the 9 hours Telegram's
30 messages/s would take, and the limiter sees the time pass as it would.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.stack import rss_mb


def _sent(request: httpx.Request) -> httpx.Response:
    chat = json.loads(request.content)["chat_id"]
    result = {"message_id": 1, "date": 1_790_000_000, "chat": {"id": int(chat), "type": "private"},
              "text": "ok"}  # fmt: skip
    return httpx.Response(200, json={"ok": True, "result": result})


async def run(checkpoints: list[int]) -> dict[str, Any]:
    import os

    from cryptography.fernet import Fernet

    import easyflow.http.ratelimit as ratelimit
    from easyflow.bootstrap import build_container
    from easyflow.config import Settings
    from easyflow.domain.messaging import OutboundMessage
    from easyflow.domain.tenancy import Capability, Integration, IntegrationStatus
    from easyflow.services.messaging import conversation_lock, inbound_turn
    from easyflow.state.locks import InMemoryLocks

    virtual_now = [time.monotonic()]

    class _NoSleep:  # the limiter's module sees this instead of asyncio
        def __getattr__(self, name: str) -> Any:
            return getattr(asyncio, name)

        @staticmethod
        async def sleep(seconds: float) -> None:
            # Time passes as if the call had waited for its slot: without that, the key's
            # bucket would run ever further ahead of the clock and no per-chat bucket
            # would ever be seen as past (in production the sleep makes the time pass).
            virtual_now[0] += seconds

    ratelimit.asyncio = _NoSleep()  # type: ignore[assignment]
    tmp = Path(tempfile.mkdtemp(prefix="efmem-"))
    settings = Settings(
        data_dir=tmp,
        secret_keys=Fernet.generate_key().decode(),
        sandbox_url="http://sandbox",
        broker_url="memory://",
    )
    container = build_container(settings, transports={"telegram": httpx.MockTransport(_sent)})
    integration = Integration(
        id=1, tenant_id=1, platform="telegram", kind=Capability.MESSENGER, name="bench",
        status=IntegrationStatus.ACTIVE, credentials={"token": "123456:" + "A" * 35},
        settings={}, created_at=datetime.now(UTC),
    )  # fmt: skip
    limiter: Any = container.adapters._limiter  # the in-memory one, on the virtual time
    limiter._clock = lambda: virtual_now[0]
    locks = InMemoryLocks()
    messenger = container.adapters.messenger(integration)
    figures: dict[str, Any] = {"checkpoints": {}, "pid": os.getpid()}
    gc.collect()
    figures["baseline_mb"] = rss_mb(os.getpid())
    started = time.perf_counter()
    served = 0
    for target in sorted(checkpoints):
        while served < target:
            chat = str(5_000_000_000 + served)
            # One conversation per chat.
            turn, held = inbound_turn(1, chat), conversation_lock(served + 1)
            async with locks.turn(turn, 120.0), locks.hold(held, 120.0):
                await messenger.send(OutboundMessage(chat_id=chat, text="Hello!"))
            served += 1
        gc.collect()
        figures["checkpoints"][str(target)] = {
            "rss_mb": rss_mb(os.getpid()),
            "seconds": time.perf_counter() - started,
        }
    await container.clients.aclose()
    await container.engine.dispose()
    return figures


def summarise(figures: dict[str, Any]) -> dict[str, Any]:
    points = figures["checkpoints"]
    keys = sorted(points, key=int)
    low, high = keys[0], keys[-1]
    figures["low_chats"], figures["high_chats"] = int(low), int(high)
    figures["growth_mb"] = points[high]["rss_mb"] - points[low]["rss_mb"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", default="1000,1000000", help="checkpoints, comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    checkpoints = [int(c) for c in args.chats.split(",")]
    figures = summarise(asyncio.run(run(checkpoints)))
    if args.json:
        print(json.dumps(figures))
        return
    for chats, point in sorted(figures["checkpoints"].items(), key=lambda kv: int(kv[0])):
        print(f"{int(chats):>9} chats  RSS {point['rss_mb']:7.1f} MB  ({point['seconds']:.0f} s)")
    print(f"growth {figures['growth_mb']:.1f} MB from {figures['low_chats']} to "
          f"{figures['high_chats']} chats (goal: within 50 MB)")  # fmt: skip


if __name__ == "__main__":
    main()
