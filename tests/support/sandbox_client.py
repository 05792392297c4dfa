"""Talking to a sandbox in-process: the demo credentials and an httpx client over ASGI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from easyflow.sandbox import DEMO_BOT_TOKEN, DEMO_OPENAI_KEY, Sandbox

__all__ = ["CHAT", "KEY", "TOKEN", "SandboxFactory", "bot_call", "client_for"]

TOKEN = DEMO_BOT_TOKEN
KEY = DEMO_OPENAI_KEY
CHAT = 5550001

SandboxFactory = Callable[..., Sandbox]
"""What the `make_sandbox` fixture yields: keyword arguments override TelegramConfig."""


def client_for(sandbox: Sandbox) -> httpx.AsyncClient:
    """An httpx client whose requests go straight into the sandbox app."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(sandbox), base_url="http://sandbox")


async def bot_call(
    http: httpx.AsyncClient, method: str, token: str = TOKEN, **params: Any
) -> httpx.Response:
    """A Bot API call with a JSON body."""
    return await http.post(f"/telegram/bot{token}/{method}", json=params)
