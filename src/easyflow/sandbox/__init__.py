"""Platform sandboxes: emulators faithful to `platforms/*.md`, fault injection, control API.

    sandbox = create_sandbox_app(SandboxConfig.demo())      # an ASGI app + Python API
    await sandbox.telegram.customer_writes(token, 5550001, "Where is my order?")
    await sandbox.wait_idle()
    sandbox.telegram.sent(token)          # typed: sandbox.emulator(TelegramSandbox).sent(token)

Each platform's package (`easyflow.sandbox.<platform>`) declares its emulator as `EMULATOR`;
the server mounts one for every platform of the registry that has one. See docs/sandbox.md.
Only the composition root, the CLI and tests import this package.
"""

from easyflow.sandbox.base import EmulatorSpec, ManualClock
from easyflow.sandbox.faults import FaultSpec
from easyflow.sandbox.flood import FloodLimits
from easyflow.sandbox.openai import DEMO_OPENAI_KEY, OpenAIConfig
from easyflow.sandbox.server import (
    Sandbox,
    SandboxConfig,
    create_sandbox_app,
    default_emulators,
    registered_emulators,
)
from easyflow.sandbox.telegram import DEMO_BOT_TOKEN, TelegramBot, TelegramConfig

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
    "registered_emulators",
]
