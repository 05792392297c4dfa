"""The sandbox server: every emulator under `/<platform>`, the control API under `/_sandbox/`
(docs/sandbox.md).

`create_sandbox_app()` builds a `Sandbox`: an ASGI app (serve it with uvicorn, or hand it to
`httpx.ASGITransport`) plus the emulators' Python APIs (`sandbox.emulator(TelegramSandbox)`,
or `sandbox.telegram` for short). The emulators are derived from the platforms registry: for
every registered platform, the `EMULATOR` its package `easyflow.sandbox.<platform>` declares
(an `EmulatorSpec`). Nothing here names a platform, so adding one is its packages and its
registry line. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import random
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from easyflow.platforms.registry import PlatformRegistry
from easyflow.sandbox.base import (
    Clock,
    ControlError,
    CustomerSide,
    Emulator,
    EmulatorSpec,
    SandboxContext,
)
from easyflow.sandbox.faults import FaultEngine, FaultSpec
from easyflow.sandbox.server_control import control_router

E = TypeVar("E")


class SandboxConfig:
    """Seeds (bots, API keys, faults) and tunables of one sandbox.

    One configuration per emulator, by platform name: `SandboxConfig(viber=ViberConfig(...),
    seed=7)`; a platform left out gets its package's default (no accounts). Read and replaced
    the same way: `config.viber`, `config.viber = ViberConfig(...)`.
    """

    faults: Sequence[FaultSpec]  # installed at start and after every reset
    seed: int  # drives fault rates and webhook retry caps
    emulators: dict[str, Any]  # platform name -> that emulator's configuration

    def __init__(self, *, faults: Sequence[FaultSpec] = (), seed: int = 0, **emulators: Any):
        object.__setattr__(self, "faults", faults)
        object.__setattr__(self, "seed", seed)
        object.__setattr__(self, "emulators", dict(emulators))

    @classmethod
    def demo(cls, registry: PlatformRegistry | None = None) -> SandboxConfig:
        """Every emulator with its package's fixed, documented demo accounts."""
        specs = registered_emulators(registry)
        return cls(**{spec.slug: spec.demo_config() for spec in specs})

    def of(self, spec: EmulatorSpec[Any, Any]) -> Any:
        """The configuration of `spec`'s emulator: the one given, else its default."""
        if spec.slug not in self.emulators:
            self.emulators[spec.slug] = spec.config()
        return self.emulators[spec.slug]

    def __getattr__(self, slug: str) -> Any:
        # Only called for names that are not attributes: the emulators' configurations.
        try:
            return self.__dict__["emulators"][slug]
        except KeyError:
            raise AttributeError(f"no configuration for an emulator {slug!r}") from None

    def __setattr__(self, slug: str, value: Any) -> None:
        if slug in ("faults", "seed", "emulators"):
            object.__setattr__(self, slug, value)
        else:
            self.emulators[slug] = value

    def __repr__(self) -> str:
        return f"SandboxConfig(faults={self.faults!r}, seed={self.seed}, {self.emulators!r})"


def emulator_of(platform: str) -> EmulatorSpec[Any, Any] | None:
    """The `EMULATOR` of `easyflow.sandbox.<platform>`, or None when it has no sandbox."""
    module_name = f"{__package__}.{platform}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None  # no sandbox package: the platform answers in process, or has none yet
        raise  # a package that is there but broken must not vanish from the sandbox
    spec = getattr(module, "EMULATOR", None)
    if not isinstance(spec, EmulatorSpec) or spec.slug != platform:
        raise TypeError(f"{module_name}.EMULATOR must be an EmulatorSpec for {platform!r}")
    return spec


def registered_emulators(
    registry: PlatformRegistry | None = None,
) -> tuple[EmulatorSpec[Any, Any], ...]:
    """The emulator of every registered platform that has a sandbox package."""
    found = (emulator_of(name) for name in (registry or PlatformRegistry()).names())
    return tuple(spec for spec in found if spec is not None)


def default_emulators() -> tuple[EmulatorSpec[Any, Any], ...]:
    return registered_emulators()


class Sandbox:
    """Emulators, their shared context and the ASGI app serving them all."""

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        emulators: Sequence[EmulatorSpec[Any, Any]] | None = None,
        registry: PlatformRegistry | None = None,
    ) -> None:
        self.config = config or SandboxConfig()
        self.faults = FaultEngine(self.config.seed)
        self.context = SandboxContext(
            self.faults,
            clock or time.time,
            random.Random(self.config.seed),  # noqa: S311
            webhook_transport,
        )
        specs = emulators if emulators is not None else registered_emulators(registry)
        self._specs = {s.slug: s for s in specs}
        if unknown := sorted(set(self.config.emulators) - set(self._specs)):
            raise ValueError(f"configuration for emulators this sandbox lacks: {unknown}")
        self.emulators: dict[str, Emulator] = {
            s.slug: s.build(self.config.of(s), self.context) for s in specs
        }
        self._seed_faults()
        self.app = self._build_app()

    def emulator(self, kind: type[E]) -> E:
        """The emulator of class `kind` (its `slug`), typed: `sandbox.emulator(TelegramSandbox)`."""
        return self._typed(getattr(kind, "slug", ""), kind)

    def spec(self, platform: str) -> EmulatorSpec[Any, Any]:
        """How `platform`'s package declared its emulator (demo accounts, console step)."""
        try:
            return self._specs[platform]
        except KeyError:
            raise LookupError(f"this sandbox has no {platform} emulator") from None

    def __getattr__(self, platform: str) -> Any:
        # `sandbox.telegram` for short in tests and scripts; src code uses `emulator()`.
        emulators = self.__dict__.get("emulators", {})
        if platform in emulators:
            return emulators[platform]
        raise AttributeError(f"{type(self).__name__!r} has no attribute or emulator {platform!r}")

    async def register_webhook(
        self, platform: str, credentials: dict[str, str], url: str, secret: str
    ) -> None:
        """What the seller does in `platform`'s console to send its webhooks to `url` (nothing
        where the hub registers the webhook itself): see `EmulatorSpec.console_step`."""
        await self.spec(platform).register_webhook(
            self.emulators[platform], credentials, url, secret
        )

    async def customer_writes(
        self,
        platform: str,
        credentials: dict[str, str],
        chat: str,
        text: str,
        *,
        name: str = "Ivan",
        opens: bool = False,
    ) -> None:
        """A customer of the messenger account writes `text` (after opening the chat first,
        with `opens`, where the platform tells the bot so); its webhook is queued."""
        side, emulator = self._customer(platform), self.emulators[platform]
        if opens and side.opens is not None:
            side.opens(emulator, credentials, chat, name)
        written = side.writes(emulator, credentials, chat, text, name)
        if inspect.isawaitable(written):
            await written

    def sent_texts(self, platform: str, credentials: dict[str, str], chat: str) -> list[str | None]:
        """What the messenger account sent to `chat`, oldest first (None: no text)."""
        return self._customer(platform).sent_texts(self.emulators[platform], credentials, chat)

    def _customer(self, platform: str) -> CustomerSide[Any]:
        side = self.spec(platform).customer
        if side is None:
            raise LookupError(f"the {platform} emulator has no customers: not a messenger")
        return side

    def accounts(self, platform: str) -> list[dict[str, str]]:
        """The credentials of `platform`'s accounts a client can use right away."""
        return self.spec(platform).credentials(self.emulators[platform])

    def catalog(self) -> list[dict[str, Any]]:
        """Every emulator: its mount, its control routes and the accounts ready to use."""
        return [
            {
                "platform": slug,
                "mount": f"/{slug}",
                "control": f"/_sandbox/{slug}",
                "credentials": self.accounts(slug),
            }
            for slug in self.emulators
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

    def _typed(self, slug: str, kind: type[E]) -> E:
        emulator = self.emulators.get(slug)
        if not isinstance(emulator, kind):
            raise LookupError(f"this sandbox has no {slug or kind.__name__} emulator")
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
    registry: PlatformRegistry | None = None,
) -> Sandbox:
    """Build a sandbox with an emulator for every platform of `registry` that has one;
    `webhook_transport` carries the messengers' webhooks (None = the real network)."""
    return Sandbox(config, webhook_transport=webhook_transport, clock=clock, registry=registry)


async def _control_error(request: Request, exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, ControlError) else 400
    return JSONResponse({"detail": str(exc)}, status_code=status)
