"""The WhatsApp Cloud API emulator (see `emulator` for what it does).

The hub cannot register a WhatsApp webhook: the seller pastes the callback URL and verify
token in the Meta app dashboard, which checks them with a GET before saving (the console step).
"""

from easyflow.sandbox.base import CustomerSide, EmulatorSpec
from easyflow.sandbox.whatsapp.emulator import WhatsAppSandbox
from easyflow.sandbox.whatsapp.state import DEMO_NUMBER, SentMessage, WhatsAppConfig, WhatsAppNumber


async def configure_in_dashboard(
    emulator: WhatsAppSandbox, credentials: dict[str, str], url: str, verify_token: str
) -> None:
    """The seller saves the callback URL and verify token in the app dashboard."""
    await emulator.configure_webhook(credentials["phone_number_id"], url, verify_token)


CUSTOMER = CustomerSide[WhatsAppSandbox](
    lambda emulator, credentials, chat, text, name: emulator.customer_writes(
        credentials["phone_number_id"], chat, text, name
    ),
    lambda emulator, credentials, chat: [
        m.text for m in emulator.sent(credentials["phone_number_id"], chat)
    ],
)

EMULATOR = EmulatorSpec(
    "whatsapp",
    WhatsAppConfig,
    WhatsAppSandbox,
    demo=lambda: WhatsAppConfig(numbers=[DEMO_NUMBER]),
    console_step=configure_in_dashboard,
    customer=CUSTOMER,
)

__all__ = [
    "CUSTOMER",
    "DEMO_NUMBER",
    "EMULATOR",
    "SentMessage",
    "WhatsAppConfig",
    "WhatsAppNumber",
    "WhatsAppSandbox",
    "configure_in_dashboard",
]
