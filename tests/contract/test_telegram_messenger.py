"""The Telegram adapter against the Telegram sandbox: the real client code on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from easyflow.domain.errors import AuthenticationError, RejectedError
from easyflow.domain.messaging import Button, OutboundMessage, WebhookRegistration
from easyflow.http import InMemoryRateLimiter, PlatformClient, RetryPolicy
from easyflow.observability.metrics import Metrics
from easyflow.platforms import telegram
from easyflow.sandbox.server import Sandbox, create_sandbox_app

CHAT = 5550001
URL = "http://testserver/api/v1/messaging/webhook/telegram/1"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with create_sandbox_app() as sandbox:
        yield sandbox


def _messenger(sandbox: Sandbox, token: str) -> telegram.TelegramMessenger:
    client = PlatformClient(
        telegram.SPEC,
        http=httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app)),
        classify=telegram.classify,
        credentials={"token": token},
        limiter=InMemoryRateLimiter(),
        metrics=Metrics(),
        base_url="http://sandbox/telegram",
        retry=RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.01),
    )
    return telegram.create_adapter(client, {})


@pytest.fixture
async def bot(sandbox: Sandbox) -> tuple[str, telegram.TelegramMessenger]:
    token = sandbox.telegram.register_bot(username="shop_bot")["token"]
    await sandbox.telegram.customer_writes(token, CHAT, "hi")  # the chat exists for the bot
    return token, _messenger(sandbox, token)


async def test_identity_and_webhook_round_trip(sandbox: Sandbox, bot) -> None:
    _, messenger = bot
    identity = await messenger.identity()
    assert identity.username == "shop_bot"
    await messenger.set_webhook(WebhookRegistration(URL, "s3cret_-token", ()))
    info = await messenger.webhook_info()
    assert info.url == URL
    # The hub always sends allowed_updates: omitting it would keep a stale filter.
    assert set(info.allowed_updates) == {"message", "edited_message", "callback_query"}
    await messenger.delete_webhook()
    assert (await messenger.webhook_info()).url == ""


async def test_html_is_escaped_and_arrives_as_plain_text(sandbox: Sandbox, bot) -> None:
    token, messenger = bot
    text = "Order <42> & 'friends' are <b>not</b> tags"
    result = await messenger.send(OutboundMessage(str(CHAT), text))
    [sent] = sandbox.telegram.sent(token, CHAT)
    assert sent.text == text
    assert sent.parse_mode == "HTML"
    assert result.platform_message_ids == (str(sent.message_id),)


async def test_long_text_is_split_and_the_keyboard_rides_on_the_last_part(
    sandbox: Sandbox, bot
) -> None:
    token, messenger = bot
    text = "\n\n".join(f"Paragraph {i}: " + "x" * 900 for i in range(10))  # ~9,000 chars
    buttons = ((Button("Track", callback_data="track:1001"),),)
    result = await messenger.send(OutboundMessage(str(CHAT), text, buttons))
    sent = sandbox.telegram.sent(token, CHAT)
    assert len(sent) == len(result.platform_message_ids) == 3
    assert all(len(m.text) <= 4096 for m in sent)
    assert "\n\n".join(m.text for m in sent) == text
    assert [m.reply_markup for m in sent[:-1]] == [None, None]
    assert sent[-1].reply_markup == {
        "inline_keyboard": [[{"text": "Track", "callback_data": "track:1001"}]]
    }


async def test_callback_query_is_answered_once(sandbox: Sandbox, bot) -> None:
    token, messenger = bot
    await messenger.send(
        OutboundMessage(str(CHAT), "Pick", ((Button("Yes", callback_data="yes"),),))
    )
    [sent] = sandbox.telegram.sent(token, CHAT)
    update = await sandbox.telegram.customer_presses(token, CHAT, sent.message_id, "yes")
    query_id = update["callback_query"]["id"]
    await messenger.answer_callback(query_id, "Noted")
    [answer] = sandbox.telegram.callback_answers(token)
    assert (answer.callback_query_id, answer.text) == (query_id, "Noted")
    with pytest.raises(RejectedError, match="query is too old"):
        await messenger.answer_callback(query_id)


async def test_unknown_chat_and_bad_token_are_typed_errors(sandbox: Sandbox, bot) -> None:
    _, messenger = bot
    with pytest.raises(RejectedError, match="chat not found"):
        await messenger.send(OutboundMessage("999", "hello"))
    stranger = _messenger(sandbox, "123456789:" + "Z" * 35)
    with pytest.raises(AuthenticationError):
        await stranger.identity()


async def test_oversized_callback_data_is_refused_before_sending(sandbox: Sandbox, bot) -> None:
    token, messenger = bot
    too_long = "заказ" * 7  # 35 characters, 70 bytes
    with pytest.raises(RejectedError, match="64 bytes"):
        await messenger.send(
            OutboundMessage(str(CHAT), "x", ((Button("B", callback_data=too_long),),))
        )
    assert sandbox.telegram.sent(token, CHAT) == []
