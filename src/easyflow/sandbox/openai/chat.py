"""What the OpenAI emulator checks and answers in a request (docs/ai.md): the messages (or
Responses input items), model families' parameters, tools and tool results,
`response_format` (json_object, json_schema), `n`, and replies cut at the token limit.

Reasoning models (o1, o3, o4, gpt-5 but not gpt-5-chat) refuse `max_tokens` and any
`temperature` but the default, other models refuse `reasoning_effort`, with the API's own
400s; a `tool` message must answer a
preceding assistant message's `tool_calls`, and every call must be answered. A scripted tool
call is served only when the request offers that function; its id comes from the emulator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from easyflow.sandbox.chat_kit import function_tool_names
from easyflow.sandbox.openai.wire import ROLES, OpenAIError, content_text, tokens

# The API's own family facts, kept apart from the adapter's so a wrong adapter table fails.
_REASONING = ("o1", "o3", "o4", "gpt-5")
_NOT_REASONING = ("gpt-5-chat",)
MAX_N = 128


@dataclass(frozen=True)
class ScriptedToolCall:
    """A reply that is a function call: `name(**arguments)`."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


def is_reasoning(model: str) -> bool:
    return model.startswith(_REASONING) and not model.startswith(_NOT_REASONING)


def check_request(model: str, body: dict[str, Any], messages: list[dict[str, Any]]) -> int:
    """Raise the API's 400 for what this request gets wrong; return `n`."""
    if is_reasoning(model):
        _check_reasoning(body)
    elif "reasoning_effort" in body:
        raise OpenAIError(
            400,
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            param="reasoning_effort",
            code="unsupported_parameter",
        )
    _check_tool_messages(messages)
    _check_tools(body.get("tools"))
    _check_response_format(body.get("response_format"), messages)
    return _n(body.get("n", 1))


def _check_reasoning(body: dict[str, Any]) -> None:
    if "max_tokens" in body:
        raise OpenAIError(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
            "'max_completion_tokens' instead.",
            param="max_tokens",
            code="unsupported_parameter",
        )
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        raise OpenAIError(
            400,
            f"Unsupported value: 'temperature' does not support {temperature} with this "
            "model. Only the default (1) value is supported.",
            param="temperature",
            code="unsupported_value",
        )


def _check_tool_messages(messages: list[dict[str, Any]]) -> None:
    open_calls: set[str] = set()
    opened_at = 0
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in open_calls:
                raise OpenAIError(
                    400,
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    param=f"messages.[{i}].role",
                )
            open_calls.discard(message["tool_call_id"])
            continue
        if open_calls:
            _unanswered(opened_at, open_calls)
        if role == "assistant" and message.get("tool_calls"):
            open_calls = {str(c.get("id")) for c in message["tool_calls"] if isinstance(c, dict)}
            opened_at = i
    if open_calls:
        _unanswered(opened_at, open_calls)


def _unanswered(index: int, ids: set[str]) -> None:
    raise OpenAIError(
        400,
        "An assistant message with 'tool_calls' must be followed by tool messages responding "
        "to each 'tool_call_id'. The following tool_call_ids did not have response messages: "
        + ", ".join(sorted(ids)),
        param=f"messages.[{index}].role",
    )


def _check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise OpenAIError(400, "Invalid type for 'tools': expected an array.", param="tools")
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise OpenAIError(
                400,
                f"Missing required parameter: 'tools[{i}].function'.",
                param=f"tools[{i}].function",
                code="missing_required_parameter",
            )


def _check_response_format(response_format: Any, messages: list[dict[str, Any]]) -> None:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        text = " ".join(content_text(m.get("content")) for m in messages).lower()
        if "json" not in text:
            raise OpenAIError(
                400,
                "'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
                param="messages",
            )
    elif kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise OpenAIError(
                400,
                "Missing required parameter: 'response_format.json_schema'.",
                param="response_format.json_schema",
                code="missing_required_parameter",
            )
    elif kind not in (None, "text"):
        raise OpenAIError(
            400,
            f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object' and "
            "'json_schema'.",
            param="response_format.type",
            code="invalid_value",
        )


def _n(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise OpenAIError(400, f"Invalid 'n': expected an integer >= 1, got {value!r}.", param="n")
    if value > MAX_N:
        raise OpenAIError(
            400,
            f"Invalid 'n': integer above maximum value. Expected a value <= {MAX_N}, but got "
            f"{value} instead.",
            param="n",
            code="integer_above_max_value",
        )
    return value


def offered(body: dict[str, Any], name: str) -> bool:
    """Whether the request offers the function `name` (else the model cannot call it)."""
    return name in function_tool_names(body) and body.get("tool_choice") != "none"


def formatted(reply: str, response_format: Any) -> str:
    """The reply as the requested format: JSON stays JSON; text is wrapped to fit."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind not in ("json_object", "json_schema"):
        return reply
    try:
        json.loads(reply)
        return reply
    except ValueError:
        pass
    if kind == "json_object":
        return json.dumps({"reply": reply}, ensure_ascii=False)
    schema = response_format["json_schema"]["schema"]
    return json.dumps(instance(schema, reply), ensure_ascii=False)


def instance(schema: dict[str, Any], text: str) -> Any:
    """A value that satisfies `schema` (the subset strict mode allows), strings set to `text`."""
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: instance(sub, text) for name, sub in properties.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return text


def tool_call_message(call_id: str, call: ScriptedToolCall) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json.dumps(call.arguments, ensure_ascii=False),
                },
            }
        ],
    }


def messages_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if messages is None:
        raise OpenAIError(
            400,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not isinstance(messages, list) or not messages:
        raise OpenAIError(
            400,
            "Invalid 'messages': empty array. Expected an array with "
            "minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ROLES:
            raise OpenAIError(
                400,
                f"Invalid value: {role!r}. Supported values are: "
                + ", ".join(f"'{r}'" for r in ROLES)
                + ".",
                param=f"messages[{i}].role",
                code="invalid_value",
            )
    return messages


def input_items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and all(isinstance(i, dict) for i in value):
        return value
    raise OpenAIError(
        400,
        "Missing required parameter: 'input'.",
        param="input",
        code="missing_required_parameter",
    )


def last_user_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role", "user") == "user"]
    return content_text(users[-1].get("content")) if users else ""


def truncate(reply: str, limit: Any) -> tuple[str, str]:
    if isinstance(limit, int) and limit > 0 and tokens(reply) > limit:
        return reply[: limit * 4], "length"
    return reply, "stop"
