"""Orders meet customers: a shipped order reaches the customer who proved its phone, once."""

from __future__ import annotations

from datetime import UTC, datetime

from easyflow.domain.messaging import Sender
from easyflow.domain.sync import SyncType
from easyflow.domain.tenancy import Capability

from .market import Market

PHONE = "+7 900 123-45-67"
CHAT = 5550001


async def _customer_on_telegram(market: Market, phone: str, chat: int) -> str:
    """A Telegram customer who shared `phone` with the shop's bot; the bot's token."""
    token = market.sandbox.telegram.register_bot()["token"]
    await market.sandbox.telegram.customer_writes(token, chat, "привет")  # the chat exists
    async with market.container.uow() as uow:
        bot = await uow.integrations.add(
            market.tenant_id, "telegram", Capability.MESSENGER, "shop bot", {"token": token}, {}
        )
        contact = await uow.contacts.upsert(
            market.tenant_id, bot.id, Sender(str(chat), "Ivan", language="ru")
        )
        await uow.contacts.set_phone(market.tenant_id, contact.id, "79001234567")
        await uow.conversations.upsert(
            market.tenant_id, bot.id, contact.id, str(chat), datetime.now(UTC)
        )
        await uow.commit()
    return token


async def test_a_shipped_order_notifies_its_linked_customer_once(market: Market) -> None:
    await market.seed("ozon", 40)
    await market.change("ozon", 7, status="new", phone=PHONE)  # someone else's order:
    await market.change("ozon", 8, status="new", phone="+7 900 000-00-00")
    token = await _customer_on_telegram(market, PHONE, CHAT)
    await market.sync("ozon", sync_type=SyncType.FULL)  # first sight: not a change

    await market.change("ozon", 7, status="shipped")
    await market.change("ozon", 8, status="shipped")
    await market.sync("ozon")
    await market.sync("ozon")  # the look-back reads the change again: nothing new
    await market.container.queue.wait_idle()

    number = market.emulator("ozon").posting_number(7)[:-2]
    sent = [m.text for m in market.sandbox.telegram.sent(token, CHAT)]
    assert sent == [f"Ваш заказ №{number} отправлен."]
    assert len(market.sandbox.telegram.sent(token)) == 1  # nobody else was written to
