"""The Viber REST Bot API emulator (see `emulator` for what it does)."""

from easyflow.sandbox.viber.emulator import ViberSandbox
from easyflow.sandbox.viber.state import DEMO_BOT, SentMessage, ViberBot, ViberConfig

__all__ = ["DEMO_BOT", "SentMessage", "ViberBot", "ViberConfig", "ViberSandbox"]
