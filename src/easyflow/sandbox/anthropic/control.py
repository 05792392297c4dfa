"""Control routes of the Anthropic emulator, mounted at `/_sandbox/anthropic` (docs/ai.md):
register keys, script the next replies (text or tool uses), read back every request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from easyflow.sandbox.chat_kit import add_key_route, chat_control_router

if TYPE_CHECKING:
    from easyflow.sandbox.anthropic import AnthropicSandbox


class _ToolUseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)


def router(emulator: AnthropicSandbox) -> APIRouter:
    """Control routes, mounted at `/_sandbox/anthropic`."""
    api = chat_control_router(emulator, "anthropic")
    add_key_route(api, emulator)

    @api.post("/tool-uses", status_code=201)
    async def script_tool_use(body: _ToolUseIn) -> dict[str, Any]:
        return {"queued": emulator.script_tool_use(body.name, **body.input)}

    return api
