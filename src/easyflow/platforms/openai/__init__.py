"""OpenAI Chat Completions as a chat model. Everything the hub knows about OpenAI.

Contract: docs/ai.md; API reference https://platform.openai.com/docs/api-reference/chat
"""

from easyflow.platforms import llm_settings
from easyflow.platforms.credentials import ConnectOption
from easyflow.platforms.openai.chat_model import (
    DEFAULT_MODEL,
    FAMILIES,
    PRICES,
    Family,
    OpenAIChatModel,
    create_adapter,
    family,
)
from easyflow.platforms.openai.spec import CREDENTIALS, SECRET_PATTERNS, SPEC, classify

__all__ = [
    "CONNECT_OPTIONS",
    "CREDENTIALS",
    "DEFAULT_MODEL",
    "FAMILIES",
    "PRICES",
    "SECRET_PATTERNS",
    "SETTINGS",
    "SPEC",
    "Family",
    "OpenAIChatModel",
    "classify",
    "create_adapter",
    "family",
]

CONNECT_OPTIONS = (
    ConnectOption(
        "model", "The chat model (https://platform.openai.com/docs/models)", DEFAULT_MODEL
    ),
)
SETTINGS = llm_settings.setting_fields("max_completion_tokens")
