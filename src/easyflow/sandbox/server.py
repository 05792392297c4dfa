"""The sandbox server: every emulator under `/<platform>`, the control API under `/_sandbox/`
(docs/sandbox.md).

`create_sandbox_app()` builds a `Sandbox`: an ASGI app (serve it with uvicorn, or hand it to
`httpx.ASGITransport`) plus the emulators' Python APIs (`sandbox.telegram`, `sandbox.openai`).
Emulators come from a registry of `EmulatorSpec`s; adding a platform is one module, one
config field and one entry in `default_emulators()`. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from easyflow.sandbox.anthropic import AnthropicConfig, AnthropicSandbox
from easyflow.sandbox.base import Clock, ControlError, Emulator, SandboxContext
from easyflow.sandbox.faults import FaultEngine, FaultSpec
from easyflow.sandbox.openai import OpenAIConfig, OpenAISandbox
from easyflow.sandbox.ozon import OzonConfig, OzonSandbox
from easyflow.sandbox.ozon.emulator import DEMO_API_KEY as OZON_DEMO_API_KEY
from easyflow.sandbox.ozon.emulator import DEMO_CLIENT_ID as OZON_DEMO_CLIENT_ID
from easyflow.sandbox.server_control import control_router
from easyflow.sandbox.telegram import TelegramConfig, TelegramSandbox
from easyflow.sandbox.telegram.state import TelegramBot
from easyflow.sandbox.viber import DEMO_BOT, ViberConfig, ViberSandbox
from easyflow.sandbox.vk import DEMO_COMMUNITY, VkConfig, VkSandbox
from easyflow.sandbox.whatsapp import DEMO_NUMBER, WhatsAppConfig, WhatsAppSandbox
from easyflow.sandbox.wildberries import WildberriesConfig, WildberriesSandbox
from easyflow.sandbox.wildberries.emulator import DEMO_TOKEN as WB_DEMO_TOKEN
from easyflow.sandbox.yandexgpt import YandexGPTConfig, YandexGPTSandbox


@dataclass
class SandboxConfig:
    """Seeds (bots, API keys, faults) and tunables of one sandbox."""

    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)
    yandexgpt: YandexGPTConfig = field(default_factory=YandexGPTConfig)
    anthropic: AnthropicConfig = field(default_factory=AnthropicConfig)
    whatsapp: WhatsAppConfig = field(default_factory=WhatsAppConfig)
    vk: VkConfig = field(default_factory=VkConfig)
    viber: ViberConfig = field(default_factory=ViberConfig)
    faults: Sequence[FaultSpec] = ()
    seed: int = 0  # drives fault rates and webhook retry caps

    @classmethod
    def demo(cls) -> SandboxConfig:
        """One account per platform with fixed, documented credentials."""
        bot = TelegramBot(DEMO_BOT_TOKEN, "hub_sandbox_bot", "Hub Sandbox Bot")
        return cls(
            telegram=TelegramConfig(bots=[bot]),
            openai=OpenAIConfig(api_keys=[DEMO_OPENAI_KEY]),
            yandexgpt=YandexGPTConfig(api_keys={DEMO_YANDEXGPT_KEY: DEMO_YANDEXGPT_FOLDER}),
            anthropic=AnthropicConfig(api_keys=[DEMO_ANTHROPIC_KEY]),
            whatsapp=WhatsAppConfig(numbers=[DEMO_NUMBER]),
            vk=VkConfig(communities=[DEMO_COMMUNITY]),
            viber=ViberConfig(bots=[DEMO_BOT]),
        )


# Public demo credentials: they only open the sandbox.
DEMO_BOT_TOKEN = "7000000001:AAE-sandbox-demo-token-000000000000"  # noqa: S105
DEMO_OPENAI_KEY = "sk-sandbox-demo"
DEMO_YANDEXGPT_KEY = "AQVN-sandbox-demo-key-0000000000000000"
DEMO_YANDEXGPT_FOLDER = "b1gsandboxdemo000000"
DEMO_ANTHROPIC_KEY = "sk-ant-sandbox-demo"


def _demo_credentials(emulator: Any) -> list[dict[str, str]]:
    return list(emulator.demo_credentials())


@dataclass(frozen=True)
class EmulatorSpec:
    slug: str
    build: Callable[[SandboxConfig, SandboxContext], Emulator]
    # The accounts a client can use right away (`GET /_sandbox/`, `easyflow sandbox`).
    credentials: Callable[[Any], list[dict[str, str]]] = _demo_credentials


def default_emulators() -> tuple[EmulatorSpec, ...]:
    return (
        EmulatorSpec(
            "telegram",
            lambda c, ctx: TelegramSandbox(c.telegram, ctx),
            lambda e: [{"token": b["token"]} for b in e.bots()],
        ),
        EmulatorSpec(
            "openai",
            lambda c, ctx: OpenAISandbox(c.openai, ctx),
            lambda e: [{"api_key": key} for key in e.keys()],  # noqa: SIM118 - a method
        ),
        EmulatorSpec(
            "wildberries",
            lambda _c, ctx: WildberriesSandbox(WildberriesConfig(), ctx),
            lambda _e: [{"token": WB_DEMO_TOKEN}],
        ),
        EmulatorSpec(
            "ozon",
            lambda _c, ctx: OzonSandbox(OzonConfig(), ctx),
            lambda _e: [{"client_id": OZON_DEMO_CLIENT_ID, "api_key": OZON_DEMO_API_KEY}],
        ),
        EmulatorSpec(
            "yandexgpt",
            lambda c, ctx: YandexGPTSandbox(c.yandexgpt, ctx),
            # The folder (a setting, not a credential) is DEMO_YANDEXGPT_FOLDER.
            lambda _e: [{"api_key": DEMO_YANDEXGPT_KEY}],
        ),
        EmulatorSpec(
            "anthropic",
            lambda c, ctx: AnthropicSandbox(c.anthropic, ctx),
            lambda _e: [{"api_key": DEMO_ANTHROPIC_KEY}],
        ),
        EmulatorSpec("whatsapp", lambda c, ctx: WhatsAppSandbox(c.whatsapp, ctx)),
        EmulatorSpec("vk", lambda c, ctx: VkSandbox(c.vk, ctx)),
        EmulatorSpec("viber", lambda c, ctx: ViberSandbox(c.viber, ctx)),
    )


class Sandbox:
    """Emulators, their shared context and the ASGI app serving them all."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        emulators: Sequence[EmulatorSpec] | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.faults = FaultEngine(self.config.seed)
        self.context = SandboxContext(
            self.faults,
            clock or time.time,
            random.Random(self.config.seed),  # noqa: S311
            webhook_transport,
        )
        specs = emulators if emulators is not None else default_emulators()
        self._specs = {s.slug: s for s in specs}
        self.emulators: dict[str, Emulator] = {
            s.slug: s.build(self.config, self.context) for s in specs
        }
        self._seed_faults()
        self.app = self._build_app()

    @property
    def telegram(self) -> TelegramSandbox:
        return self._typed("telegram", TelegramSandbox)

    @property
    def openai(self) -> OpenAISandbox:
        return self._typed("openai", OpenAISandbox)

    @property
    def yandexgpt(self) -> YandexGPTSandbox:
        return self._typed("yandexgpt", YandexGPTSandbox)

    @property
    def anthropic(self) -> AnthropicSandbox:
        return self._typed("anthropic", AnthropicSandbox)

    @property
    def whatsapp(self) -> WhatsAppSandbox:
        return self._typed("whatsapp", WhatsAppSandbox)

    @property
    def vk(self) -> VkSandbox:
        return self._typed("vk", VkSandbox)

    @property
    def viber(self) -> ViberSandbox:
        return self._typed("viber", ViberSandbox)

    def catalog(self) -> list[dict[str, Any]]:
        """Every emulator: its mount, its control routes and the accounts ready to use."""
        return [
            {
                "platform": slug,
                "mount": f"/{slug}",
                "control": f"/_sandbox/{slug}",
                "credentials": self._specs[slug].credentials(emulator),
            }
            for slug, emulator in self.emulators.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def reset(self) -> None:
        """Back to the configured seeds: state, faults and the RNG."""
        for emulator in self.emulators.values():
            await emulator.reset()
        self.faults.clear()
        self.context.rng.seed(self.config.seed)
        self._seed_faults()

    def busy(self) -> bool:
        return any(e.busy() for e in self.emulators.values())

    # A built-in deadline keeps test code short; asyncio.timeout() around it works too.
    async def wait_idle(self, timeout: float = 5.0) -> None:
        """Wait until no webhook delivery is pending; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.busy():
            if time.monotonic() >= deadline:
                raise TimeoutError(f"sandbox still delivering after {timeout} s")
            await asyncio.sleep(0.005)

    async def aclose(self) -> None:
        """Stop every background task; safe to call twice."""
        for emulator in self.emulators.values():
            await emulator.aclose()

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _typed(self, slug: str, kind: type[Any]) -> Any:
        emulator = self.emulators.get(slug)
        if not isinstance(emulator, kind):
            raise LookupError(f"this sandbox has no {slug} emulator")
        return emulator

    def _seed_faults(self) -> None:
        for spec in self.config.faults:
            self.faults.add(spec)

    def _build_app(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            yield
            await self.aclose()

        app = FastAPI(
            title="Easy Flow sandbox",
            lifespan=lifespan,
            description="Platform emulators and their control API (docs/sandbox.md).",
        )
        app.add_exception_handler(ControlError, _control_error)
        app.include_router(control_router(self), prefix="/_sandbox")
        for slug, emulator in self.emulators.items():
            app.include_router(emulator.control_router(), prefix=f"/_sandbox/{slug}")
            app.mount(f"/{slug}", emulator.app)
        return app


def create_sandbox_app(
    config: SandboxConfig | None = None,
    *,
    webhook_transport: httpx.AsyncBaseTransport | None = None,
    clock: Clock | None = None,
) -> Sandbox:
    """Build a sandbox; `webhook_transport` routes Telegram webhooks (None = real network)."""
    return Sandbox(config, webhook_transport=webhook_transport, clock=clock)


async def _control_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, ControlError) else 400
    return JSONResponse({"detail": str(exc)}, status_code=status)
