"""Flood control on a frozen clock (platforms/telegram.md §1.5): 1/s per private chat,
20/min per group, 30/s per bot, 429 with `parameters.retry_after`, all configurable."""

from __future__ import annotations

import httpx

from easyflow.sandbox import FloodLimits, ManualClock, Sandbox
from easyflow.sandbox.flood import FloodControl
from support.sandbox_client import CHAT, TOKEN, SandboxFactory, bot_call, client_for

GROUP = -1001234567890


async def send(client: httpx.AsyncClient, chat_id: int, text: str = "hi") -> httpx.Response:
    return await bot_call(client, "sendMessage", chat_id=chat_id, text=text)


def retry_after(response: httpx.Response) -> int:
    body = response.json()
    seconds = body["parameters"]["retry_after"]
    assert response.status_code == 429
    assert body["description"] == f"Too Many Requests: retry after {seconds}"
    return seconds


async def test_one_message_per_second_to_a_private_chat(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    assert (await send(client, CHAT, "first")).is_success
    clock.advance(0.4)
    assert retry_after(await send(client, CHAT, "too soon")) == 1
    clock.advance(0.6)
    assert (await send(client, CHAT, "second")).is_success
    assert [m.text for m in sandbox.telegram.sent(TOKEN)] == ["first", "second"]


async def test_twenty_messages_per_minute_to_a_group(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    await sandbox.telegram.customer_writes(TOKEN, GROUP, "hi", user_id=CHAT)
    for _ in range(20):
        assert (await send(client, GROUP)).is_success
        clock.advance(1)
    assert retry_after(await send(client, GROUP)) == 40  # the first leaves the window at 60 s
    clock.advance(40)
    assert (await send(client, GROUP)).is_success


async def test_thirty_messages_per_second_across_the_bot(
    sandbox: Sandbox, client: httpx.AsyncClient, clock: ManualClock
) -> None:
    for chat in range(1, 32):
        await sandbox.telegram.customer_writes(TOKEN, chat, "hi")
    for chat in range(1, 31):
        assert (await send(client, chat)).is_success
    assert retry_after(await send(client, 31)) == 1
    assert len(sandbox.telegram.sent(TOKEN)) == 30
    clock.advance(1)
    assert (await send(client, 31)).is_success


async def test_limits_are_configurable(make_sandbox: SandboxFactory, clock: ManualClock) -> None:
    sandbox = make_sandbox(flood=FloodLimits(per_chat_per_second=3, global_per_second=None))
    await sandbox.telegram.customer_writes(TOKEN, CHAT, "hi")
    async with client_for(sandbox) as client:
        for _ in range(3):
            assert (await send(client, CHAT)).is_success
        assert retry_after(await send(client, CHAT)) == 1


def test_flood_control_reports_whole_waits_and_counts_only_admitted_messages() -> None:
    clock = ManualClock(0)
    flood = FloodControl(FloodLimits(per_group_per_minute=2), clock)
    assert flood.admit(-1) == 0
    clock.advance(10)
    assert flood.admit(-1) == 0
    clock.advance(10)
    assert flood.admit(-1) == 40  # refused: not counted
    clock.advance(40)
    assert flood.admit(-1) == 0
    assert flood.admit(-2) == 0  # another group has its own window
