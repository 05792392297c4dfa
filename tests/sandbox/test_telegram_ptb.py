"""python-telegram-bot 22 as a real client of the Telegram emulator on a live port."""

from __future__ import annotations

import datetime as dtm
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity
from telegram.error import BadRequest, InvalidToken, RetryAfter

from easyflow.sandbox import FaultSpec, ManualClock, Sandbox, SandboxConfig, create_sandbox_app
from support.live_server import async_live_server
from support.sandbox_client import CHAT, TOKEN

# PTB warns about its own RetryAfter.retry_after type change whenever it builds the error.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def served(clock: ManualClock) -> AsyncIterator[tuple[Sandbox, str]]:
    sandbox = create_sandbox_app(SandboxConfig.demo(), clock=clock)
    async with async_live_server(sandbox) as url:
        yield sandbox, url


def bot_for(url: str, token: str = TOKEN) -> Bot:
    return Bot(token, base_url=f"{url}/telegram/bot")


async def customer_writes(url: str, text: str, chat_id: int = CHAT) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=url) as control:
        response = await control.post(
            f"/_sandbox/telegram/bots/{TOKEN}/messages", json={"chat_id": chat_id, "text": text}
        )
        response.raise_for_status()
        return response.json()


def seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else value


async def test_get_me(served: tuple[Sandbox, str]) -> None:
    _, url = served
    async with bot_for(url) as bot:
        me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (7000000001, True, "hub_sandbox_bot")


async def test_send_message_with_html_and_an_inline_keyboard(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    await customer_writes(url, "Where is order 42?")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Pick up", callback_data="pickup:42")]])
    async with bot_for(url) as bot:
        message = await bot.send_message(
            CHAT, "<b>Order #42</b> is ready &amp; paid", parse_mode="HTML", reply_markup=keyboard
        )
    assert message.text == "Order #42 is ready & paid"
    assert message.entities == (MessageEntity(MessageEntity.BOLD, 0, 9),)
    assert message.reply_markup == keyboard
    assert message.chat.id == CHAT
    assert message.from_user is not None and message.from_user.id == 7000000001
    [sent] = sandbox.telegram.sent(TOKEN, CHAT)
    assert (sent.message_id, sent.parse_mode, sent.reply_markup) == (
        message.message_id,
        "HTML",
        keyboard.to_dict(),
    )


async def test_bad_requests_raise_bad_request(served: tuple[Sandbox, str]) -> None:
    _, url = served
    async with bot_for(url) as bot:
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(424242, "hello")


async def test_flood_control_raises_retry_after(served: tuple[Sandbox, str]) -> None:
    _, url = served
    await customer_writes(url, "hi")
    async with bot_for(url) as bot:
        await bot.send_message(CHAT, "one")
        with pytest.raises(RetryAfter) as flood:
            await bot.send_message(CHAT, "two, within the same second")
    assert seconds(flood.value.retry_after) == 1


async def test_an_injected_429_carries_its_retry_after(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    sandbox.faults.add(
        FaultSpec(platform="telegram", method="getMe", kind="rate_limit", retry_after=7, count=1)
    )
    with pytest.raises(RetryAfter) as flood:
        await bot_for(url).get_me()
    assert seconds(flood.value.retry_after) == 7


@pytest.mark.parametrize("token", ["123456:not-a-sandbox-bot", "not-a-token"])
async def test_a_bad_token_is_rejected(served: tuple[Sandbox, str], token: str) -> None:
    _, url = served
    with pytest.raises(InvalidToken):
        await bot_for(url, token).get_me()


async def test_set_webhook_and_get_webhook_info_round_trip(served: tuple[Sandbox, str]) -> None:
    _, url = served
    async with bot_for(url) as bot:
        assert await bot.set_webhook(
            "http://127.0.0.1:9/hook",
            secret_token="s3cr3t",
            allowed_updates=["message", "callback_query"],
            max_connections=10,
        )
        info = await bot.get_webhook_info()
        assert (info.url, info.max_connections, info.allowed_updates) == (
            "http://127.0.0.1:9/hook",
            10,
            ("message", "callback_query"),
        )
        assert info.pending_update_count == 0 and info.has_custom_certificate is False
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""


async def test_polling_parses_messages_and_callback_queries(served: tuple[Sandbox, str]) -> None:
    sandbox, url = served
    await customer_writes(url, "/start")
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="vote:yes")]])
    async with bot_for(url) as bot:
        sent = await bot.send_message(CHAT, "Vote?", reply_markup=keyboard)
        async with httpx.AsyncClient(base_url=url) as control:
            await control.post(
                f"/_sandbox/telegram/bots/{TOKEN}/callbacks",
                json={"chat_id": CHAT, "message_id": sent.message_id, "data": "vote:yes"},
            )
        updates = await bot.get_updates()
        first, query = updates[0].message, updates[1].callback_query
        assert first is not None and first.text == "/start"
        assert query is not None and query.message is not None
        assert (query.data, query.message.message_id) == ("vote:yes", sent.message_id)
        assert await query.answer("Thanks!")
        assert await bot.get_updates(offset=updates[-1].update_id + 1) == ()
    [answer] = sandbox.telegram.callback_answers(TOKEN)
    assert (answer.callback_query_id, answer.text) == (query.id, "Thanks!")
