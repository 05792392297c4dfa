"""OpenAI Chat Completions as a ChatModel.

Contract: docs/ai.md; API reference https://platform.openai.com/docs/api-reference/chat

Quirks kept here as code:
- 429 comes in two flavours: `rate_limit_exceeded` is transient (wait `retry-after-ms` /
  `retry-after`), `insufficient_quota` is billing and must never be retried;
- `x-should-retry` overrides the status-based decision when present;
- `message.content` can be null (tool calls, refusals): a tool call is answered and the
  model asked again; a refusal is a handover, not a reply;
- model families reject parameters others need (`FAMILIES`): reasoning models (o1, o3, o4,
  gpt-5) refuse `temperature` and `max_tokens` and take `max_completion_tokens`, read
  instructions as the `developer` role, and get `reasoning_effort: low` with room for their
  reasoning tokens (other models refuse `reasoning_effort`);
- the model is checked when the integration is added (`GET /models/{model}`: 404
  `model_not_found`), so a typo fails once, at set-up, not on every customer message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from easyflow.domain.ai import ChatReply, ChatRequest, TokenUsage
from easyflow.http import PlatformClient
from easyflow.platforms import llm_settings, pricing
from easyflow.platforms.chat import HostedChatModel, function_declaration, tool_rounds
from easyflow.platforms.grounding import TOOLS, recent_turns, run_tool, system_prompt
from easyflow.platforms.openai.spec import SPEC
from easyflow.platforms.pricing import usd

DEFAULT_MODEL = "gpt-4.1-mini"
_NAME = SPEC.name

# List prices per million tokens (https://openai.com/api/pricing), an estimate of the bill.
PRICES = {
    "gpt-4.1": usd("2.00", "8.00"),
    "gpt-4.1-mini": usd("0.40", "1.60"),
    "gpt-4.1-nano": usd("0.10", "0.40"),
    "gpt-4o": usd("2.50", "10.00"),
    "gpt-4o-mini": usd("0.15", "0.60"),
    "gpt-5": usd("1.25", "10.00"),
    "gpt-5-mini": usd("0.25", "2.00"),
    "gpt-5-nano": usd("0.05", "0.40"),
    "o1": usd("15.00", "60.00"),
    "o3": usd("2.00", "8.00"),
    "o3-mini": usd("1.10", "4.40"),
    "o4-mini": usd("1.10", "4.40"),
}


@dataclass(frozen=True, slots=True)
class Family:
    """What a family of models accepts."""

    prefixes: tuple[str, ...]
    temperature: bool  # False: only the default is accepted, so none is sent
    tokens_param: str  # the name of the output-token limit
    instructions_role: str
    # Reasoning models think in tokens that count against the limit: a support answer needs
    # little thought ("low"), and a limit with room for it, or the answer comes back empty.
    reasoning_effort: str | None = None  # not sent when None: other models refuse it
    default_tokens: int = 500


REASONING = Family(
    ("o1", "o3", "o4", "gpt-5"), False, "max_completion_tokens", "developer", "low", 2000
)
# gpt-5-chat is the non-reasoning model behind ChatGPT: it takes a temperature.
CHAT = Family(("gpt-5-chat",), True, "max_completion_tokens", "system")
CLASSIC = Family((), True, "max_completion_tokens", "system")
FAMILIES = (CHAT, REASONING)


def family(model: str) -> Family:
    """The family of `model`, by the most specific prefix; classic chat models otherwise."""
    matches = [(len(p), f) for f in FAMILIES for p in f.prefixes if model.startswith(p)]
    return max(matches, key=lambda m: m[0])[1] if matches else CLASSIC


def _tools() -> list[dict[str, Any]]:
    return [{"type": "function", "function": function_declaration(t)} for t in TOOLS]


class OpenAIChatModel(HostedChatModel):
    """The ChatModel port over /v1/chat/completions, with the hub's tools."""

    name = _NAME
    currency = "USD"
    default_model = DEFAULT_MODEL
    prices = PRICES

    def __init__(
        self,
        client: PlatformClient,
        *,
        model: str = DEFAULT_MODEL,
        temperature: float = 0.3,
        max_completion_tokens: int = 500,  # the API's name for the output-token limit
        tools: bool = True,
    ) -> None:
        super().__init__(
            client,
            model=model,
            temperature=temperature,
            max_tokens=max_completion_tokens,
            tools=tools,
        )
        self._family = family(model)

    async def check(self) -> None:
        """The key works and can use the configured model (404 model_not_found otherwise)."""
        await self._client.call("models.retrieve", path=f"models/{self._model}", http_method="GET")

    def payload(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The request body for this model's family."""
        payload: dict[str, Any] = {"model": self._model, "messages": messages}
        if self._family.temperature:
            payload["temperature"] = self._temperature
        payload[self._family.tokens_param] = self._max_tokens
        if self._family.reasoning_effort:
            payload["reasoning_effort"] = self._family.reasoning_effort
        if self._tools:
            payload["tools"] = _tools()
        return payload

    async def complete(self, request: ChatRequest) -> ChatReply:
        messages: list[dict[str, Any]] = [
            {"role": self._family.instructions_role, "content": system_prompt(request)}
        ]
        messages += [{"role": t.role.value, "content": t.content} for t in recent_turns(request)]
        usage = TokenUsage()
        for offer in tool_rounds(self._tools):
            payload = self.payload(messages)
            if not offer:
                payload.pop("tools", None)  # enough looking up: answer now
            if request.user_ref:
                payload["user"] = request.user_ref
            result = await self._client.call("chat/completions", json=payload)
            usage = pricing.add(usage, _usage(result))
            message = _first_message(result)
            calls = message.get("tool_calls") or []
            if not calls or "tools" not in payload:
                return self._reply(result, message, usage)
            messages.append(
                {"role": "assistant", "content": message.get("content"), "tool_calls": calls}
            )
            messages += [_tool_result(request, call) for call in calls]
        raise AssertionError("the last round has no tools")  # pragma: no cover

    def _reply(
        self, result: dict[str, Any], message: dict[str, Any], usage: TokenUsage
    ) -> ChatReply:
        model = str(result.get("model") or self._model)
        text = (message.get("content") or "").strip()
        if text:
            return self._answer(text, model, usage)
        choices = result.get("choices") or []
        reason = choices[0].get("finish_reason", "empty") if choices else "no choices"
        if message.get("refusal"):
            reason = "refusal"
        return self._answer(None, model, usage, str(reason))


def _usage(result: dict[str, Any]) -> TokenUsage:
    usage = result.get("usage") or {}
    return TokenUsage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


def _first_message(result: dict[str, Any]) -> dict[str, Any]:
    choices = result.get("choices") or []
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    return message if isinstance(message, dict) else {}


def _tool_result(request: ChatRequest, call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    answer = run_tool(request, str(function.get("name")), arguments or "{}")
    return {"role": "tool", "tool_call_id": call.get("id"), "content": answer}


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> OpenAIChatModel:
    model = str(settings.get("model") or DEFAULT_MODEL)
    tokens = family(model).default_tokens
    read = llm_settings.read(_NAME, settings, DEFAULT_MODEL, "max_completion_tokens", tokens)
    return OpenAIChatModel(
        client,
        model=read.model,
        temperature=read.temperature,
        max_completion_tokens=read.max_tokens,
        tools=read.tools,
    )
