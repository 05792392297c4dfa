"""What the hosted language-model adapters (OpenAI, Anthropic, YandexGPT) share.

Each provider keeps its own wire format, error table and reasons to hand a conversation to
a person (its quirks, as code). What is the same logic lives here once: the settings every
adapter holds, the rule for tool round trips, pricing a reply, and where errors are wrapped.
The local responder needs none of it (no HTTP, no tools, no bill).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from easyflow.domain.ai import ChatReply, TokenUsage
from easyflow.http import PlatformClient
from easyflow.platforms import pricing
from easyflow.platforms.grounding import MAX_TOOL_ROUNDS, Tool
from easyflow.platforms.pricing import Price


def tool_rounds(tools: bool) -> Iterator[bool]:
    """Whether each call of one reply offers the hub's tools: at most MAX_TOOL_ROUNDS calls
    do, then one without them, so the model answers with what it has looked up."""
    for round_ in range(MAX_TOOL_ROUNDS + 1):
        yield tools and round_ < MAX_TOOL_ROUNDS


def function_declaration(tool: Tool) -> dict[str, Any]:
    """The tool as a JSON Schema function (`name`, `description`, `parameters`): how OpenAI
    and YandexGPT declare it, each in its own wrapper."""
    return {"name": tool.name, "description": tool.description, "parameters": dict(tool.parameters)}


def error_envelope(body: Any) -> dict[str, Any] | None:
    """`body["error"]`, the object the providers wrap an error in, if the body has one."""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


class HostedChatModel:
    """The state every hosted adapter keeps: its client, model and sampling settings, and the
    price list a reply is costed by. Subclasses implement `check` and `complete`."""

    name: str
    currency: str
    default_model: ClassVar[str]
    prices: ClassVar[Mapping[str, Price]]

    def __init__(
        self,
        client: PlatformClient,
        *,
        model: str | None = None,
        temperature: float = 0.3,
        max_tokens: int = 500,
        tools: bool = True,
    ) -> None:
        self._client = client
        self._model = self.default_model if model is None else model
        self._temperature = temperature
        self._max_tokens = max_tokens
        self._tools = tools

    def _answer(
        self, text: str | None, model: str, usage: TokenUsage, reason: str = ""
    ) -> ChatReply:
        """The reply, costed by the list prices; no text (the provider's own reasons decide
        when) hands the conversation to a person, saying why."""
        usage = pricing.priced(self.prices, model, usage)
        if text is None:
            return ChatReply(None, self.name, model, usage, handover=True, reason=reason)
        return ChatReply(text, self.name, model, usage)
