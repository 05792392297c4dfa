"""The OpenAI API emulator (see `emulator` for what it does)."""

from easyflow.sandbox.base import EmulatorSpec
from easyflow.sandbox.openai.emulator import OpenAIConfig, OpenAISandbox

# Public demo credentials: they only open the sandbox.
DEMO_OPENAI_KEY = "sk-sandbox-demo"

EMULATOR = EmulatorSpec(
    "openai",
    OpenAIConfig,
    OpenAISandbox,
    demo=lambda: OpenAIConfig(api_keys=[DEMO_OPENAI_KEY]),
    credentials=lambda emulator: [{"api_key": key} for key in emulator.keys()],  # noqa: SIM118
)

__all__ = ["DEMO_OPENAI_KEY", "EMULATOR", "OpenAIConfig", "OpenAISandbox"]
