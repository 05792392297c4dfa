"""The Telegram Bot API emulator (see `emulator` for what it does)."""

from easyflow.sandbox.telegram.emulator import TelegramSandbox
from easyflow.sandbox.telegram.state import TelegramBot, TelegramConfig

__all__ = ["TelegramBot", "TelegramConfig", "TelegramSandbox"]
