"""What every emulator shares: the `Emulator` protocol, the clock, the context and control errors.

An emulator is one platform: an ASGI app served under `/<slug>` with the
platform's own paths beneath, a control router served under `/_sandbox/<slug>`, and state that
`reset()` puts back to the configured seeds. `SandboxContext` carries what the emulators share:
the fault engine, the clock (injectable, so flood control and TTLs can be tested without
waiting), a seeded RNG and the transport webhooks are delivered through.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx
from fastapi import APIRouter
from starlette.types import ASGIApp

from easyflow.sandbox.faults import FaultEngine

Clock = Callable[[], float]
"""Seconds since the epoch, like `time.time`."""


class ManualClock:
    """A clock that moves only when told to; pass it as `clock=` to freeze time in tests."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class SandboxContext:
    """Shared by all emulators of one sandbox."""

    faults: FaultEngine
    clock: Clock = time.time
    rng: random.Random = field(default_factory=random.Random)
    webhook_transport: httpx.AsyncBaseTransport | None = None


class Emulator(Protocol):
    """One platform's emulator, as the sandbox server mounts it."""

    slug: str

    @property
    def app(self) -> ASGIApp:
        """The platform's API, mounted at `/<slug>`."""
        ...

    def control_router(self) -> APIRouter:
        """The scenario-driving routes, mounted at `/_sandbox/<slug>`."""
        ...

    async def reset(self) -> None: ...

    def busy(self) -> bool:
        """True while background work (webhook deliveries) is pending."""
        ...

    async def aclose(self) -> None: ...


class ControlError(Exception):
    """A control-API call that cannot be honoured; rendered as `{"detail": ...}`."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownObject(ControlError):
    status = 404


class AlreadyExists(ControlError):
    status = 409


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON, the way both Telegram and OpenAI put it on the wire."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def whole_seconds(seconds: float) -> int:
    """A retry hint in whole seconds, never below 1 (clients treat 0 as 'no hint')."""
    return max(1, math.ceil(seconds - 1e-9))


ConfigT = TypeVar("ConfigT")
EmulatorT = TypeVar("EmulatorT", bound=Emulator)

ConsoleStep = Callable[[EmulatorT, dict[str, str], str, str], Awaitable[None]]
"""What the seller does in the platform's console to point an account at the hub: given the
emulator, the account's credentials, the webhook URL and its secret (verify token, secret
key). Only platforms where the hub cannot register the webhook itself have one."""


@dataclass(frozen=True)
class CustomerSide(Generic[EmulatorT]):
    """How tests and the demo play a customer of a messenger account, the same way for every
    platform: the emulator, the account's credentials (as `GET /_sandbox/` lists them), the
    customer's chat id as the hub stores it, then the message."""

    # (emulator, credentials, chat, text, name): the customer writes; a webhook is queued.
    writes: Callable[[EmulatorT, dict[str, str], str, str, str], Awaitable[object] | object]
    # (emulator, credentials, chat): the texts the account sent to that chat, oldest first
    # (None for a template or media message, which has no text).
    sent_texts: Callable[[EmulatorT, dict[str, str], str], list[str | None]]
    # (emulator, credentials, chat, name): the customer opens the chat before writing, where
    # the platform tells the bot so (Viber's conversation_started); None where it does not.
    opens: Callable[[EmulatorT, dict[str, str], str, str], object] | None = None


def _listed_accounts(emulator: Any) -> list[dict[str, str]]:
    return list(emulator.demo_credentials())


@dataclass(frozen=True)
class EmulatorSpec(Generic[ConfigT, EmulatorT]):
    """One platform's emulator as its sandbox package declares it, as `EMULATOR`.

    The sandbox server mounts one for every platform of the registry whose package
    `easyflow.sandbox.<platform>` exports one; nothing else names the platform.
    """

    slug: str  # the platform's name in the registry; mounted at /<slug>
    config: Callable[[], ConfigT]  # the configuration when none is given (no accounts)
    build: Callable[[ConfigT, SandboxContext], EmulatorT]
    # The fixed, public demo accounts (`SandboxConfig.demo()`, `easyflow sandbox`).
    demo: Callable[[], ConfigT] | None = None
    # The accounts a client can use right away (`GET /_sandbox/`, `easyflow sandbox`).
    credentials: Callable[[EmulatorT], list[dict[str, str]]] = _listed_accounts
    # Messengers whose webhook the seller registers in the platform's console (ConsoleStep).
    console_step: ConsoleStep[EmulatorT] | None = None
    # Messengers: how a customer writes and what the account sent back (CustomerSide).
    customer: CustomerSide[EmulatorT] | None = None

    def demo_config(self) -> ConfigT:
        return self.demo() if self.demo is not None else self.config()

    async def register_webhook(
        self, emulator: EmulatorT, credentials: dict[str, str], url: str, secret: str
    ) -> None:
        """The seller's console step, where the platform has one; nothing where the hub
        registers the webhook itself (its adapter's `set_webhook`)."""
        if self.console_step is not None:
            await self.console_step(emulator, credentials, url, secret)
