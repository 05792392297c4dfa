"""The Viber REST Bot API emulator (see `emulator` for what it does).

The hub registers Viber webhooks itself (`set_webhook`), so there is no console step.
"""

from easyflow.sandbox.base import CustomerSide, EmulatorSpec
from easyflow.sandbox.viber.emulator import ViberSandbox
from easyflow.sandbox.viber.state import DEMO_BOT, SentMessage, ViberBot, ViberConfig

CUSTOMER = CustomerSide[ViberSandbox](
    lambda emulator, credentials, chat, text, name: emulator.customer_writes(
        credentials["auth_token"], chat, text, name
    ),
    lambda emulator, credentials, chat: [
        m.text for m in emulator.sent(credentials["auth_token"], chat)
    ],
    opens=lambda emulator, credentials, chat, name: emulator.customer_opens(
        credentials["auth_token"], chat, name
    ),
)

EMULATOR = EmulatorSpec(
    "viber", ViberConfig, ViberSandbox, demo=lambda: ViberConfig(bots=[DEMO_BOT]), customer=CUSTOMER
)

__all__ = [
    "CUSTOMER",
    "DEMO_BOT",
    "EMULATOR",
    "SentMessage",
    "ViberBot",
    "ViberConfig",
    "ViberSandbox",
]
