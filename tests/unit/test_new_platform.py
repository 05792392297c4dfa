"""A platform that fits the existing ports needs its package and one registry line, nothing else.

`acme` below is such a package, written the way platforms/vk is (SPEC, classify, CREDENTIALS,
create_adapter, SECRET_PATTERNS, CONNECT_OPTIONS). Registered beside the real ones, it gets,
without a line of shared code naming it: an `integrations add acme` command with its fields,
a base URL overridable by EASYFLOW_ACME_BASE_URL or served from the sandbox, its keys masked
in logs, and a place in a tenant's chain of chat models.
"""

from __future__ import annotations

import asyncio
import types
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from easyflow.bootstrap import Container, build_container
from easyflow.cli_connect import add_platform_commands
from easyflow.config import Settings
from easyflow.domain.ai import ChatReply, ChatRequest
from easyflow.domain.tenancy import Capability
from easyflow.http import Auth, AuthStyle, PlatformClient, PlatformSpec, RawResponse
from easyflow.observability.logging import REDACTED, redact_text
from easyflow.platforms.credentials import ConnectOption, CredentialField
from easyflow.platforms.registry import PlatformRegistry, platform

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
