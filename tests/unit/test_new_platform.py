"""A platform that fits the existing ports needs its package and one registry line, nothing else.

`acme` below is such a package, written the way platforms/vk is (SPEC, classify, CREDENTIALS,
create_adapter, SECRET_PATTERNS, CONNECT_OPTIONS). Registered beside the real ones, it gets,
without a line of shared code naming it: an `integrations add acme` command with its fields,
a base URL overridable by EASYFLOW_ACME_BASE_URL or served from the sandbox, its keys masked
in logs, and a place in a tenant's chain of chat models.

Its emulator is a package too, `easyflow.sandbox.acme` exporting `EMULATOR`, written the way
sandbox/vk is (config with defaults, demo accounts, build, the credentials the catalog lists).
The sandbox server finds it through the registry: mounted at /acme, its control routes at
/_sandbox/acme, listed by `GET /_sandbox/` and `easyflow sandbox`, configured by name in
`SandboxConfig`, and the hub's adapter reaches it at the sandbox URL.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from fastapi import APIRouter
from rich.console import Console
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from easyflow.bootstrap import Container, build_container
from easyflow.cli_connect import add_platform_commands
from easyflow.config import Settings
from easyflow.demo import sandbox_listing
from easyflow.domain.ai import ChatReply, ChatRequest
from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformClient, PlatformSpec, RawResponse
from easyflow.observability.logging import REDACTED, redact_text
from easyflow.platforms.credentials import ConnectOption, CredentialField
from easyflow.platforms.registry import PlatformRegistry, platform
from easyflow.sandbox import EmulatorSpec, SandboxConfig, create_sandbox_app
from easyflow.sandbox.base import SandboxContext

API_KEY = "acme_live_" + "k" * 24
OVERRIDE = "http://acme.internal:9000/api"


class AcmeChatModel:
    """The ChatModel port over a PlatformClient, as a real package would write it."""

    name = "acme"
    currency = ""

    def __init__(self, client: PlatformClient, region: str) -> None:
        self._client = client
        self.region = region

    async def check(self) -> None:
        await self._client.call("models", http_method="GET")

    async def complete(self, request: ChatRequest) -> ChatReply:
        return ChatReply("hello from acme", self.name, "acme-1")


def _classify(response: RawResponse) -> Any:
    return response.json()


def _create_adapter(client: PlatformClient, settings: dict[str, Any]) -> AcmeChatModel:
    return AcmeChatModel(client, str(settings.get("region") or "eu"))


acme = types.ModuleType("acme")
acme.SPEC = PlatformSpec(  # type: ignore[attr-defined]
    name="acme",
    capabilities=(Capability.CHAT_MODEL,),
    base_url="https://api.acme.example",
    auth=Auth(AuthStyle.HEADER, credential="api_key"),
    docs="https://acme.example/docs",
)
acme.classify = _classify  # type: ignore[attr-defined]
acme.CREDENTIALS = (  # type: ignore[attr-defined]
    CredentialField("api_key", pattern=r"acme_live_[a-z0-9]{16,64}", expected="acme_live_…"),
)
acme.create_adapter = _create_adapter  # type: ignore[attr-defined]
acme.SECRET_PATTERNS = (r"\bacme_live_[a-z0-9]{16,}",)  # type: ignore[attr-defined]
acme.CONNECT_OPTIONS = (ConnectOption("region", "Where the model runs", "eu"),)  # type: ignore[attr-defined]

# The one line a new platform adds to platforms/registry.py.
REGISTRY = PlatformRegistry((*PlatformRegistry().definitions(), platform(acme)))

# ----------------------------------------------------------------- its sandbox package

DEMO_KEY = "acme_live_" + "d" * 24


@dataclass
class AcmeConfig:
    api_keys: Sequence[str] = ()


class AcmeSandbox:
    """Acme's API as its emulator serves it: `GET /models` for a registered key, else 401."""

    slug = "acme"

    def __init__(self, config: AcmeConfig, ctx: SandboxContext) -> None:
        self.config = config
        self.keys = set(config.api_keys)
        self.calls: list[str] = []
        self.app = Starlette(routes=[Route("/models", self._models)])

    async def _models(self, request: Request) -> JSONResponse:
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        self.calls.append(key)
        if key not in self.keys:
            return JSONResponse({"error": "unknown key"}, status_code=401)
        return JSONResponse({"data": [{"id": "acme-1"}]})

    def control_router(self) -> APIRouter:
        api = APIRouter()

        @api.get("/keys")
        async def keys() -> dict[str, Any]:
            return {"keys": sorted(self.keys)}

        return api

    async def reset(self) -> None:
        self.keys = set(self.config.api_keys)

    def busy(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None


acme_sandbox = types.ModuleType("easyflow.sandbox.acme")
acme_sandbox.EMULATOR = EmulatorSpec(  # type: ignore[attr-defined]
    "acme",
    AcmeConfig,
    AcmeSandbox,
    demo=lambda: AcmeConfig(api_keys=[DEMO_KEY]),
    credentials=lambda emulator: [{"api_key": key} for key in sorted(emulator.keys)],
)


@pytest.fixture
def acme_sandbox_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """`easyflow.sandbox.acme` importable, as the package file would make it."""
    monkeypatch.setitem(sys.modules, "easyflow.sandbox.acme", acme_sandbox)


class Wire:
    """Acme's API on the wire: what reached it, and where."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        return httpx.Response(200, json={"data": []})


def container(database_url: str, tmp_path: Path, key: str, wire: Wire, **env: Any) -> Container:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_keys=key,
        broker_url="memory://",
        **env,
    )
    return build_container(
        settings, transports={"acme": httpx.MockTransport(wire)}, registry=REGISTRY
    )


def test_the_cli_connects_it_with_its_fields_and_settings_reach_it_at_the_overridden_url(
    migrated_database_url: str, tmp_path: Path, encryption_key: str
) -> None:
    wire = Wire()

    def run(work: Any) -> Any:  # what `easyflow` does per command: a container of its own
        async def inside() -> Any:
            hub = container(
                migrated_database_url, tmp_path, encryption_key, wire, acme_base_url=OVERRIDE
            )
            await hub.start()
            try:
                return await work(hub)
            finally:
                await hub.aclose()

        return asyncio.run(inside())

    tenant = run(lambda c: c.tenants.create("Acme shop")).id
    add_app = typer.Typer()
    add_platform_commands(add_app, run, Console(width=200), REGISTRY)
    result = CliRunner().invoke(
        add_app, ["acme", "--tenant", str(tenant), "--api-key", API_KEY, "--region", "us"]
    )

    assert result.exit_code == 0, result.output
    assert "acme integration" in result.output and "connected" in result.output
    # Proved with one call before it was stored, at the overridden base URL.
    assert wire.urls == [f"{OVERRIDE}/models"]
    [stored] = run(lambda c: c.integrations.list(tenant))
    assert (stored.platform, stored.kind, stored.settings) == (
        "acme",
        Capability.CHAT_MODEL,
        {"region": "us"},
    )


async def test_the_hub_treats_it_as_any_chat_model(
    migrated_database_url: str,
    tmp_path: Path,
    encryption_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EASYFLOW_ACME_BASE_URL", OVERRIDE)
    wire = Wire()
    hub = container(migrated_database_url, tmp_path, encryption_key, wire)
    await hub.start()
    try:
        tenant = await hub.tenants.create("Acme shop")
        integration = await hub.integrations.add(tenant.id, "acme", {"api_key": API_KEY})
        assert wire.urls == [f"{OVERRIDE}/models"]  # the environment variable, any platform
        assert hub.adapters.offers("acme", Capability.CHAT_MODEL)
        assert not hub.adapters.offers("acme", Capability.MESSENGER)
        model = hub.adapters.chat_model(integration, "acme")
        assert isinstance(model, AcmeChatModel) and model.region == "eu"  # the option's default
        [listed] = await hub.integrations.list(tenant.id)
        assert listed.kind is Capability.CHAT_MODEL  # listed with the chain's chat models
    finally:
        await hub.aclose()
    # Its key shape is masked in every log line of a process that built the container.
    assert redact_text(f"refused key {API_KEY}") == f"refused key {REDACTED}"


def test_its_base_url_is_the_sandbox_mount_or_the_spec_host() -> None:
    spec = REGISTRY.get("acme").spec
    sandboxed = Settings(sandbox_url="http://127.0.0.1:8001/")
    assert sandboxed.base_url("acme", spec.sandbox_mount) == "http://127.0.0.1:8001/acme"
    assert Settings().base_url("acme", spec.sandbox_mount) is None  # PlatformClient: SPEC host


async def test_its_emulator_is_mounted_listed_and_reached_by_the_hub(
    acme_sandbox_package: None,
    migrated_database_url: str,
    tmp_path: Path,
    encryption_key: str,
) -> None:
    sandbox = create_sandbox_app(SandboxConfig.demo(REGISTRY), registry=REGISTRY)
    try:
        listed = {item["platform"]: item for item in sandbox.catalog()}
        assert listed["acme"] == {
            "platform": "acme",
            "mount": "/acme",
            "control": "/_sandbox/acme",
            "credentials": [{"api_key": DEMO_KEY}],
        }
        assert "telegram" in listed  # beside the real ones
        assert f"http://sb/acme\n{'':<12}api_key: {DEMO_KEY}" in sandbox_listing(
            sandbox, "http://sb"
        )
        http = httpx.AsyncClient(transport=httpx.ASGITransport(sandbox.app), base_url="http://sb")
        async with http:
            index = (await http.get("/_sandbox")).json()
            assert "acme" in index["platforms"]
            assert (await http.get("/_sandbox/acme/keys")).json() == {"keys": [DEMO_KEY]}
            unknown = await http.get("/acme/models", headers={"Authorization": "Bearer nope"})
            assert unknown.status_code == 401

        # The hub, pointed at the sandbox like any platform, connects acme with the demo key.
        settings = Settings(
            database_url=migrated_database_url,
            data_dir=tmp_path,
            secret_keys=encryption_key,
            broker_url="memory://",
            sandbox_url="http://sb",
        )
        hub = build_container(
            settings,
            transports={"acme": httpx.ASGITransport(sandbox.app)},
            registry=REGISTRY,
        )
        await hub.start()
        try:
            tenant = await hub.tenants.create("Acme shop")
            await hub.integrations.add(tenant.id, "acme", sandbox.accounts("acme")[0])
        finally:
            await hub.aclose()
        assert sandbox.acme.calls == ["nope", DEMO_KEY]  # the hub's check call reached it
    finally:
        await sandbox.aclose()


def test_its_emulator_is_configured_by_name(acme_sandbox_package: None) -> None:
    config = SandboxConfig(acme=AcmeConfig(api_keys=["acme_live_" + "x" * 20]), seed=3)
    sandbox = create_sandbox_app(config, registry=REGISTRY)
    assert sandbox.emulator(AcmeSandbox).keys == {"acme_live_" + "x" * 20}
    assert sandbox.accounts("acme") == [{"api_key": "acme_live_" + "x" * 20}]
    # A configuration for a platform the sandbox does not emulate is a mistake, said so.
    with pytest.raises(ValueError, match="acme"):
        create_sandbox_app(config)  # the stock registry: no acme
