"""`easyflow outbox list|show|replay`: an operator finds a dead reply, reads its history and
sends it again; the sandbox (on a real port) records what arrived."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import Connection, insert

from easyflow.sandbox import DEMO_BOT_TOKEN
from easyflow.storage.tables import outbox

from .conftest import CliEnv
from .test_cli import create_tenant, easyflow, ok, query, words

CUSTOMER = 5550001
ERROR = "gave up after 8 attempts: Internal Server Error"


def _dead_row(database_url: str, tenant: int, integration: int) -> int:
    """A reply whose eight attempts failed, as the outbox leaves it."""
    now = datetime.now(UTC)
    values = {
        "tenant_id": tenant,
        "integration_id": integration,
        "kind": "message",
        "payload": {"chat_id": str(CUSTOMER), "text": "Your order 1001 has shipped."},
        "status": "dead",
        "attempts": 8,
        "next_attempt_at": now,
        "last_error": ERROR,
        "created_at": now,
    }

    def work(conn: Connection) -> int:
        row_id = conn.execute(insert(outbox).values(values).returning(outbox.c.id)).scalar_one()
        conn.commit()
        return int(row_id)

    return query(database_url, work)


def test_list_dead_rows_then_replay_one_and_read_its_history(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    output = ok(
        "integrations", "add", "telegram", "--tenant", str(tenant), "--token", DEMO_BOT_TOKEN
    )
    match = re.search(r"telegram integration (\d+) connected", output)
    assert match is not None
    # The customer wrote once, so the sandbox knows the chat (its webhook goes nowhere here).
    wrote = httpx.post(
        f"{cli_env.sandbox_url}/_sandbox/telegram/bots/{DEMO_BOT_TOKEN}/messages",
        json={"chat_id": CUSTOMER, "text": "Where is my order?"},
    )
    assert wrote.status_code == 201, wrote.text
    row = _dead_row(cli_env.database_url, tenant, int(match.group(1)))

    listed = words(ok("outbox", "list", "--tenant", str(tenant), "--status", "dead"))
    assert f"{row} " in listed and "dead" in listed and ERROR in listed
    assert str(row) not in words(ok("outbox", "list", "--tenant", str(tenant), "--status", "sent"))

    replayed = ok("outbox", "replay", "--tenant", str(tenant), str(row))
    assert f"outbox row {row} queued again" in words(replayed)
    sent = httpx.get(
        f"{cli_env.sandbox_url}/_sandbox/telegram/bots/{DEMO_BOT_TOKEN}/sent",
        params={"chat_id": CUSTOMER},
    ).json()
    assert "Your order 1001 has shipped." in str(sent)

    shown = words(ok("outbox", "show", "--tenant", str(tenant), str(row)))
    assert f"outbox row {row}: sent after 1 attempt(s)" in shown
    assert re.search(r"0 │ replayed .* 1 │ sent │ [^│]+ │ \d+ │", shown), shown

    # A sent row does not replay; another tenant's row is not found: clean errors.
    again = easyflow("outbox", "replay", "--tenant", str(tenant), str(row))
    assert again.exit_code == 1 and "only dead rows replay" in words(again.output)
    other = create_tenant("Other Shop")
    missing = easyflow("outbox", "show", "--tenant", str(other), str(row))
    assert missing.exit_code == 1 and "not found" in words(missing.output)
    bad = easyflow("outbox", "list", "--tenant", str(tenant), "--status", "lost")
    assert bad.exit_code == 2 and "unknown status" in bad.output
