"""OpenAI Chat Completions as a ChatModel.

Contract: ../shared/platforms/openai.md; docs https://platform.openai.com/docs/api-reference/chat

Quirks kept here as code:
- 429 comes in two flavours: `rate_limit_exceeded` is transient (wait `retry-after-ms` /
  `retry-after`), `insufficient_quota` is billing and must never be retried;
- `x-should-retry` overrides the status-based decision when present;
- `message.content` can be null (tool calls, refusals): that is a handover, not a reply;
- `max_tokens` is legacy, reasoning models need `max_completion_tokens`.
"""

from __future__ import annotations

from typing import Any

from easyflow.domain.ai import ChatReply, ChatRequest, TokenUsage
from easyflow.domain.errors import (
    AuthenticationError,
    ConfigurationError,
    RateLimitedError,
    RejectedError,
    RetryableError,
)
from easyflow.domain.tenancy import PlatformKind
from easyflow.http import Auth, AuthStyle, PlatformClient, PlatformSpec, RawResponse
from easyflow.platforms.credentials import CredentialField
from easyflow.platforms.grounding import recent_turns, system_prompt

SPEC = PlatformSpec(
    name="openai",
    kind=PlatformKind.AI,
    base_url="https://api.openai.com/v1",
    auth=Auth(AuthStyle.HEADER, credential="api_key", template="Bearer {secret}"),
    timeout=60.0,
    docs="https://platform.openai.com/docs/api-reference/chat",
)
# Every OpenAI secret key starts with `sk-` (user, `sk-proj-`, `sk-svcacct-`, `sk-admin-`);
# the rest is url-safe base64. It goes into a header: no space or line break may pass.
CREDENTIALS = (
    CredentialField(
        "api_key",
        pattern=r"sk-[A-Za-z0-9_-]{8,500}",
        expected="an OpenAI secret key, sk-… (https://platform.openai.com/api-keys)",
    ),
)
DEFAULT_MODEL = "gpt-4.1-mini"
_NAME = SPEC.name


def _retry_after(response: RawResponse) -> float | None:
    ms = response.header_seconds("retry-after-ms")
    if ms is not None:
        return ms / 1000
    return response.header_seconds("retry-after")


def classify(response: RawResponse) -> Any:
    """The response object of a successful call, or the typed error its envelope describes."""
    body = response.json()
    if response.status < 300 and isinstance(body, dict):
        return body
    error = (body or {}).get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    message = str(error.get("message") or f"HTTP {response.status}")
    code = error.get("code") or error.get("type")
    status = response.status
    should_retry = response.headers.get("x-should-retry")
    if status == 429 and code == "insufficient_quota":
        raise ConfigurationError(message, platform=_NAME, status=status)
    if status == 429:
        raise RateLimitedError(
            message, platform=_NAME, status=status, retry_after=_retry_after(response)
        )
    if status == 401:
        raise AuthenticationError(message, platform=_NAME, status=status)
    if status in (403, 404):
        raise ConfigurationError(message, platform=_NAME, status=status)
    if should_retry == "false":
        raise RejectedError(message, platform=_NAME, status=status)
    if status >= 500 or status in (408, 409) or should_retry == "true":
        raise RetryableError(
            message, platform=_NAME, status=status, retry_after=_retry_after(response)
        )
    raise RejectedError(message, platform=_NAME, status=status)


class OpenAIChatModel:
    """The ChatModel port over /v1/chat/completions."""

    def __init__(
        self,
        client: PlatformClient,
        *,
        model: str = DEFAULT_MODEL,
        temperature: float = 0.3,
        max_completion_tokens: int = 500,
    ) -> None:
        self.name = _NAME
        self._client = client
        self._model = model
        self._temperature = temperature
        self._max_tokens = max_completion_tokens

    async def check(self) -> None:
        await self._client.call("models", http_method="GET")

    async def complete(self, request: ChatRequest) -> ChatReply:
        messages = [{"role": "system", "content": system_prompt(request)}]
        messages += [{"role": t.role.value, "content": t.content} for t in recent_turns(request)]
        payload: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": self._temperature,
            "max_completion_tokens": self._max_tokens,
        }
        if request.user_ref:
            payload["user"] = request.user_ref
        result = await self._client.call("chat/completions", json=payload)
        return self._reply(result)

    def _reply(self, result: dict[str, Any]) -> ChatReply:
        usage = result.get("usage") or {}
        tokens = TokenUsage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
        choices = result.get("choices") or []
        message = choices[0].get("message", {}) if choices else {}
        text = (message.get("content") or "").strip()
        model = str(result.get("model") or self._model)
        if not text:
            reason = choices[0].get("finish_reason", "empty") if choices else "no choices"
            return ChatReply(None, _NAME, model, tokens, handover=True, reason=str(reason))
        return ChatReply(text, _NAME, model, tokens)


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> OpenAIChatModel:
    return OpenAIChatModel(
        client,
        model=str(settings.get("model") or DEFAULT_MODEL),
        temperature=float(settings.get("temperature", 0.3)),
        max_completion_tokens=int(settings.get("max_completion_tokens", 500)),
    )
