"""`easyflow keys list|revoke|reencrypt`, and every command refusing secret keys that cannot
read the stored secrets with one clear line instead of a traceback."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from easyflow.app import create_app
from easyflow.config import Settings
from easyflow.sandbox import DEMO_OPENAI_KEY

from .conftest import CliEnv
from .test_cli import KEY, create_tenant, easyflow, ok, words


def connect_openai(tenant: int) -> int:
    output = ok(
        "integrations", "add", "openai", "--tenant", str(tenant), "--api-key", DEMO_OPENAI_KEY
    )
    match = re.search(r"openai integration (\d+) connected", output)
    assert match is not None
    return int(match.group(1))


def test_keys_list_and_revoke(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    [kept] = KEY.findall(ok("keys", "create", "--tenant", str(tenant), "--name", "kept"))
    leaked_output = ok("keys", "create", "--tenant", str(tenant), "--name", "leaked")
    [leaked] = KEY.findall(leaked_output)
    leaked_id = int(re.search(r"API key (\d+)", leaked_output).group(1))  # type: ignore[union-attr]

    listed = ok("keys", "list", "--tenant", str(tenant))
    assert re.search(rf"│\s*{leaked_id}\s*│\s*leaked\s*│\s*ef_{leaked.split('_')[1]}_…", listed)
    assert leaked not in listed and kept not in listed

    assert f"API key {leaked_id} of tenant {tenant} revoked" in ok(
        "keys", "revoke", "--tenant", str(tenant), str(leaked_id)
    )
    listed = ok("keys", "list", "--tenant", str(tenant))
    revoked_row = next(line for line in listed.splitlines() if "leaked" in line)
    assert re.search(r"\d{4}-\d\d-\d\dT", revoked_row.split("│")[-2])  # revoked at
    with TestClient(create_app(Settings())) as client:

        def status(key: str) -> int:
            headers = {"Authorization": f"Bearer {key}"}
            return client.get("/api/v1/integrations", headers=headers).status_code

        assert (status(leaked), status(kept)) == (401, 200)


def test_revoking_a_key_of_another_tenant_is_a_clean_error(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    mine, other = create_tenant("Mine"), create_tenant("Other")
    output = ok("keys", "create", "--tenant", str(mine))
    key_id = re.search(r"API key (\d+)", output).group(1)  # type: ignore[union-attr]
    result = easyflow("keys", "revoke", "--tenant", str(other), key_id)
    assert result.exit_code == 1
    assert f"error: API key {key_id} not found" in words(result.output)
    assert "Traceback" not in result.output


@pytest.fixture
def wrong_key(cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """A tenant with an OpenAI integration, then settings whose key cannot read it."""
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    integration = connect_openai(tenant)
    monkeypatch.setenv("EASYFLOW_SECRET_KEYS", Fernet.generate_key().decode())
    return tenant, integration


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("tenants", "list"), id="tenants-list"),
        pytest.param(("keys", "list", "--tenant", "1"), id="keys-list"),
        pytest.param(("serve", "--port", "1"), id="serve"),
    ],
)
def test_a_wrong_secret_key_stops_every_command_with_what_to_do(
    wrong_key: tuple[int, int], command: tuple[str, ...]
) -> None:
    result = easyflow(*command)
    assert result.exit_code == 1, result.output
    said = words(result.output)
    assert "cannot decrypt the stored secrets of 1 of 1 integrations" in said
    assert "easyflow keys reencrypt" in said
    assert "Traceback" not in result.output


def test_a_worker_with_a_wrong_secret_key_does_not_start(
    wrong_key: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EASYFLOW_BROKER_URL", "redis://127.0.0.1:6379/15")
    command = [str(Path(sys.executable).parent / "easyflow"), "worker"]
    # A real process: a worker that did start would serve for ever; the bound only ends a
    # regression, the check itself is the exit status.
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cannot decrypt the stored secrets of 1 of 1" in words(done.stdout)
    assert "Traceback" not in done.stdout + done.stderr


def test_reencrypt_lists_unreadable_rows_and_carries_on(
    wrong_key: tuple[int, int], cli_env: CliEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant, unreadable = wrong_key
    result = easyflow("keys", "reencrypt")
    assert result.exit_code == 1
    said = words(result.output)
    assert "re-encrypted the secrets of 0 integrations" in said
    assert f"unreadable: integration {unreadable} (tenant {tenant}, openai)" in said
    assert "Traceback" not in result.output

    # The way out when the key is lost: remove the row, and the hub starts again.
    assert f"integration {unreadable} removed" in ok(
        "integrations", "remove", "--tenant", str(tenant), str(unreadable)
    )
    assert "re-encrypted the secrets of 0 integrations" in ok("keys", "reencrypt")
    ok("tenants", "list")


@pytest.mark.parametrize("token", ["1:a/../../_sandbox/reset?", "123456:" + "A" * 34 + "\n"])
def test_a_token_that_would_leave_its_url_path_is_refused_before_any_call(
    cli_env: CliEnv, token: str
) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    bots = cli_env.sandbox.telegram.bots()
    result = easyflow("integrations", "add", "telegram", "--tenant", str(tenant), "--token", token)
    assert result.exit_code == 1
    assert "error: telegram credential 'token'" in words(result.output)
    assert "Traceback" not in result.output
    assert cli_env.sandbox.telegram.bots() == bots  # the sandbox was not reset
