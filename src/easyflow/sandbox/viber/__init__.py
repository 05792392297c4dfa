"""The Viber REST Bot API emulator (see `emulator` for what it does).

The hub registers Viber webhooks itself (`set_webhook`), so there is no console step.
"""

from easyflow.sandbox.base import EmulatorSpec
from easyflow.sandbox.viber.emulator import ViberSandbox
from easyflow.sandbox.viber.state import DEMO_BOT, SentMessage, ViberBot, ViberConfig

EMULATOR = EmulatorSpec(
    "viber", ViberConfig, ViberSandbox, demo=lambda: ViberConfig(bots=[DEMO_BOT])
)

__all__ = ["DEMO_BOT", "EMULATOR", "SentMessage", "ViberBot", "ViberConfig", "ViberSandbox"]
