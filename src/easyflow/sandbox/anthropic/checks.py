"""What the Messages API refuses with 400 `invalid_request_error` (docs/ai.md), in its own
words: missing `max_tokens`/`messages`, a `system` role inside `messages`, an unknown role, a
`tool_result` that answers no `tool_use` of the previous turn, a `tool_use` left unanswered,
and tools without a name or `input_schema`.
"""

from __future__ import annotations

from typing import Any

from easyflow.sandbox.anthropic.wire import AnthropicError

_ROLES = ("user", "assistant")


def _bad(message: str) -> AnthropicError:
    return AnthropicError("invalid_request_error", message)


def check_messages(body: dict[str, Any], *, count_only: bool = False) -> None:
    if not count_only:
        limit = body.get("max_tokens")
        if limit is None:
            raise _bad("max_tokens: Field required")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise _bad("max_tokens: Input should be a valid integer greater than 0")
    messages = body.get("messages")
    if messages is None:
        raise _bad("messages: Field required")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages: at least one message is required")
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise _bad("system: Input should be a valid string or list of text blocks")
    previous_uses: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "system":
            raise _bad(
                f'messages.{i}.role: Unexpected role "system". The Messages API accepts a '
                'top-level `system` parameter, not "system" as an input message role.'
            )
        if role not in _ROLES:
            raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        blocks = _blocks(message.get("content"), i)
        results = {str(b.get("tool_use_id")) for b in blocks if b.get("type") == "tool_result"}
        stray = results - previous_uses
        if stray:
            raise _bad(
                f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {', '.join(sorted(stray))}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message."
            )
        if previous_uses - results:
            raise _bad(
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(sorted(previous_uses - results))}. Each "
                "`tool_use` block must have a corresponding `tool_result` block in the next "
                "message."
            )
        previous_uses = {str(b.get("id")) for b in blocks if b.get("type") == "tool_use"}
    _check_tools(body.get("tools"))


def _blocks(content: Any, index: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not all(isinstance(b, dict) for b in content):
        raise _bad(f"messages.{index}.content: Input should be a valid string or list of blocks")
    return content


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise _bad("tools: Input should be a valid list")
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not tool.get("name"):
            raise _bad(f"tools.{i}.name: Field required")
        if tool.get("type") in (None, "custom") and not isinstance(tool.get("input_schema"), dict):
            raise _bad(f"tools.{i}.custom.input_schema: Field required")
