"""Platform sandboxes: emulators faithful to `platforms/*.md`, fault injection, control API.

    sandbox = create_sandbox_app(SandboxConfig.demo())      # an ASGI app + Python API
    await sandbox.telegram.customer_writes(token, 5550001, "Where is my order?")
    await sandbox.wait_idle()
    sandbox.telegram.sent(token)

See docs/sandbox.md. Only the composition root, the CLI and tests import this package.
"""

from easyflow.sandbox.base import ManualClock
from easyflow.sandbox.faults import FaultSpec
from easyflow.sandbox.flood import FloodLimits
from easyflow.sandbox.openai import OpenAIConfig
from easyflow.sandbox.server import (
    DEMO_BOT_TOKEN,
    DEMO_OPENAI_KEY,
    EmulatorSpec,
    Sandbox,
    SandboxConfig,
    create_sandbox_app,
    default_emulators,
)
from easyflow.sandbox.telegram import TelegramBot, TelegramConfig

__all__ = [
    "DEMO_BOT_TOKEN",
    "DEMO_OPENAI_KEY",
    "EmulatorSpec",
    "FaultSpec",
    "FloodLimits",
    "ManualClock",
    "OpenAIConfig",
    "Sandbox",
    "SandboxConfig",
    "TelegramBot",
    "TelegramConfig",
    "create_sandbox_app",
    "default_emulators",
]
