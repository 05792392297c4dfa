"""A reply that waits out its chat's one message a second does not hold back other chats."""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.hub import running_hub


async def test_a_chat_waiting_for_its_second_lends_the_only_worker_slot(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> None:
    async with running_hub(
        migrated_database_url, tmp_path, encryption_key, job_concurrency=1
    ) as hub:
        telegram = hub.sandbox.telegram
        await hub.customer_writes("Hello!", chat_id=1)  # answered: chat 1's next is 1 s away
        # Chat 1 writes again, its reply waits for chat 1's second; then chat 2 writes.
        await telegram.customer_writes(hub.token, 1, "Hello!")
        await asyncio.sleep(0.2)
        await telegram.customer_writes(hub.token, 2, "Hello!")
        for _ in range(60):
            if hub.sent(2):
                break
            await asyncio.sleep(0.01)
        # Chat 2 was answered while chat 1's second reply still waited: with the one slot held
        # through that wait, chat 2 came after it.
        assert len(hub.sent(2)) == 1
        assert len(hub.sent(1)) == 1
        await hub.settle()
        assert len(hub.sent(1)) == 2
