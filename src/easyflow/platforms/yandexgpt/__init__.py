"""YandexGPT (Yandex AI Studio, Foundation Models text generation) as a ChatModel.

Contract: docs/ai.md; API reference
https://yandex.cloud/en/docs/foundation-models/text-generation/api-ref/TextGeneration/completion

Quirks kept here as code:
- the model is a URI with the folder in it, `gpt://<folder_id>/<model>/latest`, and the folder
  also goes in `x-folder-id` (required with IAM tokens, harmless with API keys);
- auth is `Api-Key <key>` for a service account's API key, `Bearer <token>` for an IAM token
  (`t1.…`, lives at most 12 hours: an API key is what a stored integration should use);
- messages carry `text`, not `content`; tool calls and results travel as `toolCallList` and
  `toolResultList` in place of `text`;
- proto3 JSON: `maxTokens` and every usage counter are int64, i.e. strings on the wire;
- the answer is wrapped in `result`; an alternative's status says whether it was cut
  (`TRUNCATED_FINAL`), filtered (`CONTENT_FILTER`: a person answers) or calls tools;
- errors come in the Yandex Cloud gateway shape `{"error": {grpcCode, httpCode, message}}`;
  quotas (gRPC 8, RESOURCE_EXHAUSTED, e.g. 10 concurrent generations per model) answer 429
  without Retry-After, so the client backs off.
"""

from __future__ import annotations

import re
from typing import Any

from easyflow.domain.ai import ChatReply, ChatRequest, TokenUsage
from easyflow.domain.errors import ConfigurationError
from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformClient, PlatformSpec
from easyflow.platforms import llm_settings, pricing
from easyflow.platforms.chat import HostedChatModel, function_declaration, tool_rounds
from easyflow.platforms.credentials import ConnectOption, CredentialField
from easyflow.platforms.grounding import TOOLS, recent_turns, run_tool, system_prompt
from easyflow.platforms.pricing import rub
from easyflow.platforms.yandexgpt.errors import classify

SPEC = PlatformSpec(
    name="yandexgpt",
    capabilities=(Capability.CHAT_MODEL,),
    base_url="https://llm.api.cloud.yandex.net",
    auth=Auth(
        AuthStyle.HEADER,
        credential="api_key",
        template="Api-Key {secret}",
        bearer_prefixes=("t1.",),
    ),
    timeout=60.0,
    docs="https://yandex.cloud/en/docs/foundation-models/",
)
CREDENTIALS = (
    CredentialField(
        "api_key",
        pattern=r"[A-Za-z0-9_.-]{20,1000}",
        expected=(
            "a service account's API key (AQVN…) or an IAM token (t1.…) from Yandex Cloud "
            "(https://yandex.cloud/en/docs/iam/concepts/authorization/api-key)"
        ),
    ),
)
# An API key (AQVN…) or an IAM token (t1.…), with or without the "Api-Key" before it.
SECRET_PATTERNS = (r"\b(AQVN[A-Za-z0-9_-]{20,}|t1\.[A-Za-z0-9_.-]{20,})",)
DEFAULT_MODEL = "yandexgpt-lite"
CONNECT_OPTIONS = (
    ConnectOption("folder_id", "Yandex Cloud folder id of the model (b1g…)"),
    ConnectOption("model", "The model: yandexgpt-lite, yandexgpt …", DEFAULT_MODEL),
)
SETTINGS = llm_settings.setting_fields()
_NAME = SPEC.name
# A folder id is 20 lowercase letters and digits (b1g… for most clouds).
FOLDER_PATTERN = r"[a-z0-9]{20}"

# List prices of synchronous generation per million tokens
# (https://yandex.cloud/en/docs/foundation-models/pricing), an estimate of the bill.
PRICES = {
    "yandexgpt-lite": rub("200", "200"),
    "yandexgpt": rub("1200", "1200"),
    "yandexgpt-32k": rub("1200", "1200"),
}

_HANDOVER_STATUSES = {"ALTERNATIVE_STATUS_CONTENT_FILTER": "content_filter"}


def model_uri(folder_id: str, model: str, branch: str = "latest") -> str:
    return f"gpt://{folder_id}/{model}/{branch}"


def _tools() -> list[dict[str, Any]]:
    return [{"function": function_declaration(t)} for t in TOOLS]


class YandexGPTChatModel(HostedChatModel):
    """The ChatModel port over POST /foundationModels/v1/completion, with the hub's tools."""

    name = _NAME
    currency = "RUB"
    default_model = DEFAULT_MODEL
    prices = PRICES

    def __init__(
        self,
        client: PlatformClient,
        *,
        folder_id: str,  # the model lives in a folder: it is part of every call
        model: str = DEFAULT_MODEL,
        temperature: float = 0.3,
        max_tokens: int = 500,
        tools: bool = True,
    ) -> None:
        super().__init__(
            client, model=model, temperature=temperature, max_tokens=max_tokens, tools=tools
        )
        self._folder = folder_id

    @property
    def model_uri(self) -> str:
        return model_uri(self._folder, self._model)

    async def check(self) -> None:
        """The key, the folder and the model work together: one tokenize call."""
        await self._call("tokenize", {"modelUri": self.model_uri, "text": "ping"})

    async def complete(self, request: ChatRequest) -> ChatReply:
        messages: list[dict[str, Any]] = [{"role": "system", "text": system_prompt(request)}]
        messages += [{"role": t.role.value, "text": t.content} for t in recent_turns(request)]
        usage = TokenUsage()
        for offer in tool_rounds(self._tools):
            result = await self._call("completion", self._payload(messages, offer))
            result = result.get("result") if isinstance(result.get("result"), dict) else result
            usage = pricing.add(usage, _usage(result))
            alternative = _first(result)
            message = alternative.get("message") or {}
            calls = (message.get("toolCallList") or {}).get("toolCalls") or []
            if not calls or not offer:
                return self._reply(alternative, message, usage)
            messages.append({"role": "assistant", "toolCallList": {"toolCalls": calls}})
            results = [_tool_result(request, call) for call in calls]
            messages.append({"role": "user", "toolResultList": {"toolResults": results}})
        raise AssertionError("the last round has no tools")  # pragma: no cover

    def _payload(self, messages: list[dict[str, Any]], offer_tools: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "modelUri": self.model_uri,
            "completionOptions": {
                "stream": False,
                "temperature": self._temperature,
                "maxTokens": str(self._max_tokens),  # int64: a string in proto3 JSON
            },
            "messages": messages,
        }
        if offer_tools:
            payload["tools"] = _tools()
        return payload

    async def _call(self, method: str, payload: dict[str, Any]) -> Any:
        if not re.fullmatch(FOLDER_PATTERN, self._folder):
            # It goes into a header and the model URI: nothing else may pass.
            raise ConfigurationError(
                "the folder_id setting must be the Yandex Cloud folder id of the model "
                "(20 lowercase letters and digits, e.g. b1g…)",
                platform=_NAME,
            )
        return await self._client.call(
            method,
            path=f"foundationModels/v1/{method}",
            json=payload,
            headers={"x-folder-id": self._folder},
        )

    def _reply(
        self, alternative: dict[str, Any], message: dict[str, Any], usage: TokenUsage
    ) -> ChatReply:
        status = str(alternative.get("status") or "")
        text = str(message.get("text") or "").strip()
        if status in _HANDOVER_STATUSES or not text:
            reason = _HANDOVER_STATUSES.get(status, status.lower() or "empty")
            return self._answer(None, self._model, usage, reason)
        return self._answer(text, self._model, usage)


def _first(result: dict[str, Any]) -> dict[str, Any]:
    alternatives = result.get("alternatives") or []
    first = alternatives[0] if alternatives else None
    return first if isinstance(first, dict) else {}


def _usage(result: dict[str, Any]) -> TokenUsage:
    usage = result.get("usage") or {}
    # int64 counters arrive as strings ("31"): int() them, never add them as they are.
    return TokenUsage(
        prompt_tokens=int(usage.get("inputTextTokens") or 0),
        completion_tokens=int(usage.get("completionTokens") or 0),
    )


def _tool_result(request: ChatRequest, call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("functionCall") or {}
    name = str(function.get("name"))
    arguments = function.get("arguments")
    answer = run_tool(request, name, arguments if arguments is not None else {})
    return {"functionResult": {"name": name, "content": answer}}


def create_adapter(client: PlatformClient, settings: dict[str, Any]) -> YandexGPTChatModel:
    read = llm_settings.read(_NAME, settings, DEFAULT_MODEL)
    return YandexGPTChatModel(
        client,
        folder_id=str(settings.get("folder_id") or ""),
        model=read.model,
        temperature=min(read.temperature, 1.0),  # YandexGPT's range is 0-1
        max_tokens=read.max_tokens,
        tools=read.tools,
    )


__all__ = [
    "CREDENTIALS",
    "PRICES",
    "SPEC",
    "YandexGPTChatModel",
    "classify",
    "create_adapter",
    "model_uri",
]
