"""The Telegram Bot API emulator (see `emulator` for what it does).

The hub registers Telegram webhooks itself (`setWebhook`), so there is no console step.
"""

from easyflow.sandbox.base import CustomerSide, EmulatorSpec
from easyflow.sandbox.telegram.emulator import TelegramSandbox
from easyflow.sandbox.telegram.state import TelegramBot, TelegramConfig

# Public demo credentials: they only open the sandbox.
DEMO_BOT_TOKEN = "7000000001:AAE-sandbox-demo-token-000000000000"  # noqa: S105


def _demo() -> TelegramConfig:
    return TelegramConfig(bots=[TelegramBot(DEMO_BOT_TOKEN, "hub_sandbox_bot", "Hub Sandbox Bot")])


async def _telegram_customer_writes(
    emulator: TelegramSandbox, credentials: dict[str, str], chat: str, text: str, name: str
) -> None:
    await emulator.customer_writes(credentials["token"], int(chat), text, first_name=name)


CUSTOMER = CustomerSide[TelegramSandbox](
    _telegram_customer_writes,
    lambda emulator, credentials, chat: [
        m.text for m in emulator.sent(credentials["token"], int(chat))
    ],
)

EMULATOR = EmulatorSpec(
    "telegram",
    TelegramConfig,
    TelegramSandbox,
    demo=_demo,
    credentials=lambda emulator: [{"token": bot["token"]} for bot in emulator.bots()],
    customer=CUSTOMER,
)

__all__ = [
    "CUSTOMER",
    "DEMO_BOT_TOKEN",
    "EMULATOR",
    "TelegramBot",
    "TelegramConfig",
    "TelegramSandbox",
]
