"""Control routes of the OpenAI emulator, mounted at `/_sandbox/openai` (docs/sandbox.md).

Register API keys, script the next replies (text or function calls), read back every request
the emulator received.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from easyflow.sandbox.chat_kit import ToolCallIn, add_key_route, chat_control_router

if TYPE_CHECKING:
    from easyflow.sandbox.openai.emulator import OpenAISandbox


def router(openai: OpenAISandbox) -> APIRouter:
    """The routes, bound to one emulator instance."""
    api = chat_control_router(openai, "openai")
    add_key_route(api, openai)

    @api.get("/keys")
    async def list_keys() -> dict[str, Any]:
        return {"keys": openai.keys()}

    @api.post("/tool-calls", status_code=201)
    async def script_tool_call(body: ToolCallIn) -> dict[str, Any]:
        """The next reply to a request offering this function is a call to it."""
        return {"queued": openai.script_tool_call(body.name, **body.arguments)}

    return api
