"""The `easyflow` command, run through Typer's CliRunner with settings from the environment.

The database tests run on a fresh SQLite file and on a fresh PostgreSQL database; the
sandbox is served on a real loopback port (the command talks to it over HTTP).
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from easyflow.app import create_app
from easyflow.cli import app
from easyflow.config import Settings
from easyflow.sandbox import DEMO_BOT_TOKEN, DEMO_OPENAI_KEY
from easyflow.storage.engine import normalise_url

from .conftest import PUBLIC_URL, CliEnv

T = TypeVar("T")
runner = CliRunner()
KEY = re.compile(r"^ef_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$", re.MULTILINE)


def easyflow(*args: str) -> Result:
    return runner.invoke(app, list(args))


def ok(*args: str) -> str:
    result = easyflow(*args)
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def words(output: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(output.split())


def create_tenant(name: str) -> int:
    match = re.search(r"tenant (\d+) created: (.+)", ok("tenants", "create", name))
    assert match is not None
    assert match.group(2).strip() == name
    return int(match.group(1))


def query(database_url: str, work: Callable[[Connection], T]) -> T:
    """Run `work` on a connection of the database the command wrote to."""

    async def run() -> T:
        engine = create_async_engine(normalise_url(database_url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def dump(database_url: str, table: str) -> str:
    sql = text(f"SELECT * FROM {table}")  # noqa: S608
    return query(database_url, lambda c: repr(c.execute(sql).all()))


def webhook_url(env: CliEnv, token: str) -> str:
    info = httpx.get(f"{env.sandbox_url}/telegram/bot{token}/getWebhookInfo").json()
    assert info["ok"] is True
    return str(info["result"]["url"])


# --------------------------------------------------------------------------- db, tenants, keys


def test_db_upgrade_creates_the_schema(cli_env: CliEnv) -> None:
    assert "database at head" in words(ok("db", "upgrade"))
    ok("db", "upgrade")  # a second run is a no-op
    tables: Any = query(cli_env.database_url, lambda c: inspect(c).get_table_names())
    assert {"tenants", "api_keys", "integrations", "conversations", "outbox"} <= set(tables)


def test_tenants_create_and_list(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    first = create_tenant("My Shop")
    second = create_tenant("Second Shop")
    assert second > first
    listed = ok("tenants", "list")
    rows = {
        int(m.group(1)): m.group(2) for m in re.finditer(r"│\s*(\d+)\s*│\s*([^│]+?)\s*│", listed)
    }
    assert rows == {first: "My Shop", second: "Second Shop"}


def test_keys_create_prints_a_key_that_opens_the_api(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    output = ok("keys", "create", "--tenant", str(tenant), "--name", "ci")
    assert f"for tenant {tenant}" in output
    [key] = KEY.findall(output)

    with TestClient(create_app(Settings())) as client:
        good = client.get("/api/v1/integrations", headers={"Authorization": f"Bearer {key}"})
        assert good.status_code == 200
        assert good.json() == []
        bad = client.get("/api/v1/integrations", headers={"Authorization": f"Bearer {key}x"})
        assert bad.status_code == 401
    # Only its hash is stored.
    assert key not in dump(cli_env.database_url, "api_keys")


def test_a_key_for_a_missing_tenant_is_a_clean_error(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    result = easyflow("keys", "create", "--tenant", "424242")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "error: tenant 424242 not found" in words(result.output)
    assert "Traceback" not in result.output


def test_generate_secret_prints_a_fernet_key(clean_env: None) -> None:
    first = ok("keys", "generate-secret").strip()
    second = ok("keys", "generate-secret").strip()
    assert first != second
    token = Fernet(first.encode()).encrypt(b"hello")
    assert Fernet(first.encode()).decrypt(token) == b"hello"


# --------------------------------------------------------------------------- integrations


def test_add_telegram_registers_the_webhook_and_lists_it(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    output = ok(
        "integrations", "add", "telegram", "--tenant", str(tenant), "--token", DEMO_BOT_TOKEN
    )
    match = re.search(r"telegram integration (\d+) connected", output)
    assert match is not None
    integration_id = int(match.group(1))
    assert webhook_url(cli_env, DEMO_BOT_TOKEN) == (
        f"{PUBLIC_URL}/api/v1/messaging/webhook/telegram/{integration_id}"
    )
    assert DEMO_BOT_TOKEN not in output

    listed = ok("integrations", "list", "--tenant", str(tenant))
    assert re.search(
        rf"│\s*{integration_id}\s*│\s*telegram\s*│\s*telegram\s*│\s*active\s*│", listed
    )
    assert DEMO_BOT_TOKEN not in listed
    other = create_tenant("Other Shop")
    assert str(integration_id) not in ok("integrations", "list", "--tenant", str(other))
    assert DEMO_BOT_TOKEN not in dump(cli_env.database_url, "integrations")


def test_add_openai_checks_the_key_and_never_shows_it(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    output = ok(
        "integrations", "add", "openai", "--tenant", str(tenant), "--api-key", DEMO_OPENAI_KEY
    )
    assert re.search(r"openai integration \d+ connected", output)
    bad_key = "sk-cli-test-" + "q" * 24
    refused = easyflow(
        "integrations", "add", "openai", "--tenant", str(tenant), "--api-key", bad_key
    )
    assert refused.exit_code == 1
    assert "error: openai refused the integration:" in words(refused.output)
    assert "Traceback" not in refused.output

    listed = ok("integrations", "list", "--tenant", str(tenant))
    assert len(re.findall(r"│\s*openai\s*│", listed)) == 1
    assert re.search(r"│\s*openai\s*│\s*openai\s*│\s*active\s*│.*gpt-4\.1-mini", listed)
    for text_ in (output, refused.output, listed, dump(cli_env.database_url, "integrations")):
        assert DEMO_OPENAI_KEY not in text_
        assert bad_key not in text_


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(
            "123456789:AAnot-a-bot-the-sandbox-knows-000000",
            "error: telegram refused the integration:",
            id="unknown",
        ),
        pytest.param(
            "garbage",
            "error: telegram credential 'token' does not have the documented format",
            id="malformed",
        ),
    ],
)
def test_add_telegram_with_a_bad_token_fails_cleanly(
    cli_env: CliEnv, token: str, reason: str
) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    result = easyflow("integrations", "add", "telegram", "--tenant", str(tenant), "--token", token)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # handled, not a crash
    assert reason in words(result.output)
    assert "Traceback" not in result.output
    assert token not in result.output
    listed = ok("integrations", "list", "--tenant", str(tenant))
    assert "telegram" not in listed
    assert webhook_url(cli_env, DEMO_BOT_TOKEN) == ""


def test_a_missing_secret_key_is_a_clean_error(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EASYFLOW_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/unused")
    result = easyflow("tenants", "create", "My Shop")
    assert result.exit_code != 0
    assert "EASYFLOW_SECRET_KEYS" in result.output
    assert isinstance(result.exception, SystemExit)


# --------------------------------------------------------------------------- demo, sandbox


def _free_port_pair() -> int:
    """A port p with p + 1 free too (the demo serves the hub on p, the sandbox on p + 1)."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = int(first.getsockname()[1])
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise RuntimeError("no two consecutive free ports")


def test_demo_once_tells_the_story(clean_env: None) -> None:
    result = easyflow("demo", "--once", "--port", str(_free_port_pair()))
    assert result.exit_code == 0, (result.output, result.exception)
    story = words(result.output)
    assert "Order 1001 has been shipped" in story
    assert "handed the conversation to a person" in story
    assert "Conversation status: handover" in story
    # The same shop answers on WhatsApp (after the phone number is proven), VK and Viber.
    assert "Demo Shop on whatsapp: Thank you, your phone number is confirmed" in story
    assert "Demo Shop on vk: We deliver within 2-4 days" in story
    assert "Demo Shop on viber: You can return any item within 14 days" in story


def test_sandbox_command_serves_the_documented_demo_credentials(tmp_path: Path) -> None:
    port = _free_port_pair()
    command = [str(Path(sys.executable).parent / "easyflow"), "sandbox", "--port", str(port)]
    process = subprocess.Popen(  # noqa: S603
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert process.stdout is not None
        # The banner is printed once the server listens; EOF means the command died.
        for line in process.stdout:
            if "EASYFLOW_SANDBOX_URL" in line:
                break
        else:
            pytest.fail("easyflow sandbox exited before serving")
        url = f"http://127.0.0.1:{port}"
        me = httpx.get(f"{url}/telegram/bot{DEMO_BOT_TOKEN}/getMe")
        assert me.status_code == 200, me.text
    finally:
        process.terminate()
        process.wait(timeout=10)
