"""Control routes of the OpenAI emulator, mounted at `/_sandbox/openai` (docs/sandbox.md).

Register API keys, script the next replies (text or function calls), read back every request
the emulator received.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from easyflow.sandbox.openai import OpenAISandbox


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1)


class ToolCallIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class RepliesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    replies: list[str] = Field(min_length=1)


def router(openai: OpenAISandbox) -> APIRouter:
    """The routes, bound to one emulator instance."""
    api = APIRouter(tags=["sandbox: openai"])

    @api.post("/keys", status_code=201)
    async def add_key(body: KeyIn) -> dict[str, Any]:
        openai.add_key(body.key)
        return {"keys": openai.keys()}

    @api.get("/keys")
    async def list_keys() -> dict[str, Any]:
        return {"keys": openai.keys()}

    @api.post("/replies", status_code=201)
    async def script(body: RepliesIn) -> dict[str, Any]:
        return {"queued": openai.script(body.replies)}

    @api.post("/tool-calls", status_code=201)
    async def script_tool_call(body: ToolCallIn) -> dict[str, Any]:
        """The next reply to a request offering this function is a call to it."""
        return {"queued": openai.script_tool_call(body.name, **body.arguments)}

    @api.get("/requests")
    async def requests(path: str | None = None) -> dict[str, Any]:
        return {"requests": [r.to_dict() for r in openai.requests(path)]}

    return api
