"""The VK API and Callback API emulator (see `emulator` for what it does)."""

from easyflow.sandbox.vk.emulator import VkSandbox
from easyflow.sandbox.vk.state import (
    DEMO_COMMUNITY,
    EventAnswer,
    SentMessage,
    VkCommunity,
    VkConfig,
)

__all__ = ["DEMO_COMMUNITY", "EventAnswer", "SentMessage", "VkCommunity", "VkConfig", "VkSandbox"]
