"""The OpenAI API emulator (see `emulator` for what it does)."""

from easyflow.sandbox.openai.emulator import OpenAIConfig, OpenAISandbox

__all__ = ["OpenAIConfig", "OpenAISandbox"]
