"""Anthropic Messages API as a ChatModel.

Contract: docs/ai.md; API reference https://docs.anthropic.com/en/api/messages

Quirks kept here as code:
- `anthropic-version: 2023-06-01` is required on every call; the key goes in `x-api-key`;
- the instructions are the top-level `system`, never a message with a `system` role, and the
  conversation must open with the customer (a leading assistant turn is dropped);
- `content` is a list of blocks: the reply is the concatenation of the `text` blocks, and a
  `tool_use` block is answered with a `tool_result` block in the next user turn;
- 529 `overloaded_error` is the whole API being overloaded, not the tenant's quota: the chain
  moves to the next provider; 429 `rate_limit_error` carries `retry-after`;
- `usage.input_tokens` excludes cached input, which is billed too (cache_* fields).
"""

from __future__ import annotations

from typing import Any

from easyflow.domain.ai import ChatReply, ChatRequest, Role, TokenUsage
from easyflow.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitedError,
    RejectedError,
    RetryableError,
)
from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformClient, PlatformSpec, RawResponse
from easyflow.platforms import llm_settings, pricing
from easyflow.platforms.chat import HostedChatModel, error_envelope, tool_rounds
from easyflow.platforms.credentials import ConnectOption, CredentialField
from easyflow.platforms.grounding import TOOLS, recent_turns, run_tool, system_prompt
from easyflow.platforms.pricing import usd

SPEC = PlatformSpec(
    name="anthropic",
    capabilities=(Capability.CHAT_MODEL,),
    base_url="https://api.anthropic.com",
    auth=Auth(AuthStyle.HEADER, credential="api_key", header="x-api-key", template="{secret}"),
    timeout=60.0,
    docs="https://docs.anthropic.com/en/api/messages",
)
CREDENTIALS = (
    CredentialField(
        "api_key",
        pattern=r"sk-ant-[A-Za-z0-9_-]{8,500}",
        expected="an Anthropic API key, sk-ant-… (https://console.anthropic.com/settings/keys)",
    ),
)
SECRET_PATTERNS = (r"\bsk-ant-[A-Za-z0-9_-]{16,}\b",)
API_VERSION = "2023-06-01"
DEFAULT_MODEL = "claude-haiku-4-5"
CONNECT_OPTIONS = (ConnectOption("model", "The Claude model", DEFAULT_MODEL),)
SETTINGS = llm_settings.setting_fields()
_NAME = SPEC.name

# List prices per million tokens (https://www.anthropic.com/pricing), an estimate of the bill.
PRICES = {
    "claude-opus-4": usd("15.00", "75.00"),
    "claude-opus-4-5": usd("5.00", "25.00"),
    "claude-opus-4-6": usd("5.00", "25.00"),
    "claude-sonnet-4": usd("3.00", "15.00"),
    "claude-haiku-4-5": usd("1.00", "5.00"),
    "claude-3-5-haiku": usd("0.80", "4.00"),
}

# error.type -> what the caller does (platforms' error table as data).
_CONFIGURATION = {"billing_error", "permission_error", "not_found_error"}
_RETRYABLE = {"api_error", "timeout_error", "overloaded_error"}


def classify(response: RawResponse) -> Any:
    """The message object of a successful call, or the typed error its envelope describes."""
    body = response.json()
    status = response.status
    if status < 300 and isinstance(body, dict):
        return body
    error = error_envelope(body) or {}
    kind = str(error.get("type") or "")
    message = str(error.get("message") or f"HTTP {status}")
    request_id = response.headers.get("request-id")
    if request_id:
        message = f"{message} (request {request_id})"
    should_retry = response.headers.get("x-should-retry")
    retry_after = response.header_seconds("retry-after")
    if status == 429 or kind == "rate_limit_error":
        raise RateLimitedError(message, platform=_NAME, status=status, retry_after=retry_after)
    if status == 401 or kind == "authentication_error":
        raise AuthenticationError(message, platform=_NAME, status=status)
    if kind in _CONFIGURATION or status in (402, 403, 404):
        raise ConfigurationError(message, platform=_NAME, status=status)
    if should_retry == "false":
        raise RejectedError(message, platform=_NAME, status=status)
    if kind in _RETRYABLE or status >= 500 or status in (408, 409) or should_retry == "true":
        raise RetryableError(message, platform=_NAME, status=status, retry_after=retry_after)
    raise RejectedError(message, platform=_NAME, status=status)


def _tools() -> list[dict[str, Any]]:
    return [
        {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
        for t in TOOLS
    ]


class AnthropicChatModel(HostedChatModel):
    """The ChatModel port over POST /v1/messages, with the hub's tools."""

    name = _NAME
    currency = "USD"
    default_model = DEFAULT_MODEL
    prices = PRICES

    async def check(self) -> None:
        """The key works and the model exists (404 not_found_error otherwise)."""
        await self._call("models.retrieve", f"v1/models/{self._model}", http_method="GET")

    async def complete(self, request: ChatRequest) -> ChatReply:
        payload: dict[str, Any] = {
            "model": self._model,
            "max_tokens": self._max_tokens,
            "system": system_prompt(request),
            "messages": _messages(request),
            "temperature": self._temperature,
        }
        if request.user_ref:
            payload["metadata"] = {"user_id": request.user_ref}
        usage = TokenUsage()
        for offer in tool_rounds(self._tools):
            body = payload | {"tools": _tools()} if offer else payload
            result = await self._call("messages", "v1/messages", json=body)
            usage = pricing.add(usage, _usage(result))
            blocks = [b for b in result.get("content") or [] if isinstance(b, dict)]
            uses = [b for b in blocks if b.get("type") == "tool_use"]
            if not uses or not offer:
                return self._reply(result, blocks, usage)
            payload["messages"] = [
                *payload["messages"],
                {"role": "assistant", "content": blocks},
                {"role": "user", "content": [_tool_result(request, use) for use in uses]},
            ]
        raise AssertionError("the last round has no tools")  # pragma: no cover

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"anthropic-version": API_VERSION}
        return await self._client.call(method, path=path, headers=headers, **kwargs)

    def _reply(
        self, result: dict[str, Any], blocks: list[dict[str, Any]], usage: TokenUsage
    ) -> ChatReply:
        model = str(result.get("model") or self._model)
        text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
        stop = str(result.get("stop_reason") or "")
        answered = text.strip() and stop != "refusal"
        return self._answer(text.strip() if answered else None, model, usage, stop or "empty")


def _messages(request: ChatRequest) -> list[dict[str, Any]]:
    turns = list(recent_turns(request))
    while turns and turns[0].role is not Role.USER:
        turns.pop(0)  # the API wants the customer to speak first
    return [{"role": t.role.value, "content": t.content} for t in turns]


def _usage(result: dict[str, Any]) -> TokenUsage:
    usage = result.get("usage") or {}
    prompt = sum(
        int(usage.get(name) or 0)
        for name in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return TokenUsage(prompt_tokens=prompt, completion_tokens=int(usage.get("output_tokens") or 0))


def _tool_result(request: ChatRequest, use: dict[str, Any]) -> dict[str, Any]:
    arguments = use.get("input")
    answer = run_tool(request, str(use.get("name")), arguments if arguments is not None else {})
    return {"type": "tool_result", "tool_use_id": use.get("id"), "content": answer}


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> AnthropicChatModel:
    read = llm_settings.read(_NAME, settings, DEFAULT_MODEL)
    return AnthropicChatModel(
        client,
        model=read.model,
        temperature=min(read.temperature, 1.0),  # Anthropic's range is 0-1
        max_tokens=read.max_tokens,
        tools=read.tools,
    )
