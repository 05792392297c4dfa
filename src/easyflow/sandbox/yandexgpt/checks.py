"""What the YandexGPT API refuses (docs/ai.md): a `modelUri`
that is not `gpt://<folder>/<model>/<branch>`, a folder that is not the caller's, an unknown
model, messages with `content` instead of `text`, roles other than system/user/assistant,
a temperature outside 0-1 and a `maxTokens` that is not an int64.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from easyflow.sandbox.yandexgpt.wire import YandexError

_URI = re.compile(r"gpt://([^/]+)/([^/]+)/(latest|rc|deprecated)")
_ROLES = ("system", "user", "assistant")
_CONTENTS = ("text", "toolCallList", "toolResultList")


@dataclass(frozen=True)
class Caller:
    """Who called: an API key's folder, or an IAM token (folder from `x-folder-id`)."""

    key_folder: str | None
    folder_header: str | None

    def check_folder(self, folder: str) -> None:
        if self.key_folder is None and not self.folder_header:
            raise YandexError(403, "Permission denied: specify the folder in x-folder-id")
        for own in (self.key_folder, self.folder_header):
            if own is not None and own != folder:
                raise YandexError(403, f"Permission to [resource-manager.folder {folder}] denied")


@dataclass(frozen=True)
class Options:
    max_tokens: int | None
    temperature: float


def parse_model_uri(uri: Any, models: tuple[str, ...]) -> tuple[str, str]:
    """(folder, model) of a `gpt://` URI; 400 when malformed, 404 when the model is unknown."""
    match = _URI.fullmatch(uri) if isinstance(uri, str) else None
    if match is None:
        raise YandexError(400, f"Invalid modelUri: {uri!r}; expected gpt://<folder>/<model>/latest")
    folder, model, _ = match.groups()
    if model not in models:
        raise YandexError(404, f"Model {model} not found in folder {folder}")
    return folder, model


def check_completion(body: dict[str, Any]) -> Options:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise YandexError(400, "messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise YandexError(400, f"messages[{i}]: invalid message")
        extra = set(message) - {"role", *_CONTENTS}
        if extra:
            # grpc-gateway's proto JSON parser names the first unknown field.
            raise YandexError(400, f'proto: unknown field "{sorted(extra)[0]}"')
        if message.get("role") not in _ROLES:
            raise YandexError(400, f"messages[{i}].role: unknown role {message.get('role')!r}")
        if sum(key in message for key in _CONTENTS) != 1:
            raise YandexError(
                400, f"messages[{i}]: exactly one of text, toolCallList, toolResultList"
            )
    return _options(body.get("completionOptions") or {})


def _options(options: dict[str, Any]) -> Options:
    temperature = options.get("temperature", 0.3)
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1:
        raise YandexError(400, "completionOptions.temperature must be between 0 and 1")
    raw = options.get("maxTokens")
    if raw is None:
        return Options(None, float(temperature))
    try:
        max_tokens = int(raw)  # int64: a JSON string, though the parser also takes a number
    except (TypeError, ValueError):
        raise YandexError(400, f"completionOptions.maxTokens: invalid value {raw!r}") from None
    if isinstance(raw, bool) or max_tokens < 1:
        raise YandexError(400, f"completionOptions.maxTokens: invalid value {raw!r}")
    return Options(max_tokens, float(temperature))
