"""`easyflow integrations add ozon`, `easyflow sync run` and `easyflow sync status` against the
sandbox on a real port."""

from __future__ import annotations

import time
from typing import Any

from typer.testing import CliRunner

from easyflow.cli import app
from easyflow.sandbox.ozon.emulator import DEMO_API_KEY, DEMO_CLIENT_ID

from .conftest import CliEnv

runner = CliRunner()


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def test_sync_run_brings_the_orders_in_and_status_shows_the_run(cli_env: CliEnv) -> None:
    emulator: Any = cli_env.sandbox.emulators["ozon"]
    emulator.orders.generate(250, time.time() - 3600, time.time())
    ok("db", "upgrade")
    ok("tenants", "create", "Shop")
    added = ok(
        "integrations",
        "add",
        "ozon",
        "--tenant",
        "1",
        "--client-id",
        DEMO_CLIENT_ID,
        "--api-key",
        DEMO_API_KEY,
    )
    assert "ozon integration 1 connected" in added
    output = " ".join(ok("sync", "run", "1", "orders", "--tenant", "1", "--full").split())
    assert "succeeded" in output and "250 records" in output
    rows = [line.split("│") for line in ok("sync", "status", "--tenant", "1").splitlines()]
    cells = [[c.strip() for c in row[1:-1]] for row in rows if len(row) > 2]
    assert [c[:4] + c[5:8] for c in cells] == [
        ["1", "orders", "full", "succeeded", "3", "250", "0"]
    ]
    refused = runner.invoke(app, ["sync", "run", "1", "nothing", "--tenant", "1"])
    assert refused.exit_code == 1 and "no stream 'nothing'" in " ".join(refused.output.split())
