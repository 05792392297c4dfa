"""The VK API and Callback API emulator (see `emulator` for what it does).

The hub cannot register a VK webhook: the seller adds a Callback API server in the community
settings, and VK confirms it with a `confirmation` request before use (the console step).
"""

from easyflow.sandbox.base import CustomerSide, EmulatorSpec
from easyflow.sandbox.vk.emulator import VkSandbox
from easyflow.sandbox.vk.state import (
    DEMO_COMMUNITY,
    EventAnswer,
    SentMessage,
    VkCommunity,
    VkConfig,
)


async def add_callback_server(
    emulator: VkSandbox, credentials: dict[str, str], url: str, secret_key: str
) -> None:
    """The seller adds the server address and secret key in the community's settings."""
    await emulator.add_server(int(credentials["group_id"]), url, secret_key)


CUSTOMER = CustomerSide[VkSandbox](
    # VK sends no name with a message: the hub asks users.get for it.
    lambda emulator, credentials, chat, text, _name: emulator.customer_writes(
        int(credentials["group_id"]), int(chat), text
    ),
    lambda emulator, credentials, chat: [
        m.text for m in emulator.sent(int(credentials["group_id"]), int(chat))
    ],
)

EMULATOR = EmulatorSpec(
    "vk",
    VkConfig,
    VkSandbox,
    demo=lambda: VkConfig(communities=[DEMO_COMMUNITY]),
    console_step=add_callback_server,
    customer=CUSTOMER,
)

__all__ = [
    "CUSTOMER",
    "DEMO_COMMUNITY",
    "EMULATOR",
    "EventAnswer",
    "SentMessage",
    "VkCommunity",
    "VkConfig",
    "VkSandbox",
    "add_callback_server",
]
