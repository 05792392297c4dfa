"""`easyflow notifications templates list|set|delete` and `easyflow notifications send`: a
seller replaces a built-in template, sends it to a contact and reads it at the sandbox (on a
real port); bad input ends with the reason, never a traceback."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
from sqlalchemy import Connection, insert

from easyflow.sandbox import DEMO_BOT_TOKEN
from easyflow.storage.tables import contacts, conversations

from .conftest import CliEnv
from .test_cli import create_tenant, easyflow, ok, query, words

CUSTOMER = 5550001


def _contact(database_url: str, tenant: int, integration: int) -> int:
    """The contact and conversation the customer's first message would have made."""

    def work(conn: Connection) -> int:
        now = datetime.now(UTC)
        contact_id = conn.execute(
            insert(contacts)
            .values(
                tenant_id=tenant,
                integration_id=integration,
                external_id=str(CUSTOMER),
                display_name="Ivan",
                language="ru",
                created_at=now,
                updated_at=now,
            )
            .returning(contacts.c.id)
        ).scalar_one()
        conn.execute(
            insert(conversations).values(
                tenant_id=tenant,
                integration_id=integration,
                contact_id=contact_id,
                chat_id=str(CUSTOMER),
                status="open",
                created_at=now,
            )
        )
        conn.commit()
        return int(contact_id)

    return query(database_url, work)


def test_set_send_and_delete_a_template(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = str(create_tenant("My Shop"))
    added = ok("integrations", "add", "telegram", "--tenant", tenant, "--token", DEMO_BOT_TOKEN)
    match = re.search(r"telegram integration (\d+) connected", added)
    assert match is not None
    wrote = httpx.post(  # the sandbox knows the chat once the customer wrote
        f"{cli_env.sandbox_url}/_sandbox/telegram/bots/{DEMO_BOT_TOKEN}/messages",
        json={"chat_id": CUSTOMER, "text": "привет"},
    )
    assert wrote.status_code == 201, wrote.text
    contact = str(_contact(cli_env.database_url, int(tenant), int(match.group(1))))

    listed = words(ok("notifications", "templates", "list", "-t", tenant))
    assert "order_shipped │ ru │ built-in" in listed
    assert "payment_received │ en │ built-in" in listed

    saved = ok(
        "notifications", "templates", "set", "-t", tenant, "order_shipped", "ru",
        "--text", "{name}, заказ {number} в пути", "--html", "{name}, заказ <b>{number}</b> в пути",
        "--button", "Где заказ?=order {number}",
    )  # fmt: skip
    assert '"builtin": false' in saved and '"fields": [' in saved
    sent = words(ok("notifications", "send", "-t", tenant, "--contact", contact, "order_shipped",
                    "number=1001"))  # fmt: skip
    assert re.search(r"queued as outbox row \d+", sent)
    [message] = httpx.get(
        f"{cli_env.sandbox_url}/_sandbox/telegram/bots/{DEMO_BOT_TOKEN}/sent",
        params={"chat_id": CUSTOMER},
    ).json()["messages"]
    assert message["text"] == "Ivan, заказ 1001 в пути" and message["parse_mode"] == "HTML"
    assert [e["type"] for e in message["entities"]] == ["bold"]

    missing = easyflow("notifications", "send", "-t", tenant, "--contact", contact, "order_shipped")
    assert missing.exit_code == 1 and "needs data for number" in words(missing.output)
    body = cli_env.data_dir.parent / "template.json"
    body.write_text('{"text": "x", "buttons": [[{"text": "go", "url": "ftp://example.com"}]]}')
    bad_url = easyflow(
        "notifications",
        "templates",
        "set",
        "-t",
        tenant,
        "order_shipped",
        "en",
        "--json",
        str(body),
    )
    assert bad_url.exit_code == 1 and "must start with https://" in words(bad_url.output)
    no_text = easyflow("notifications", "templates", "set", "-t", tenant, "order_shipped", "en")
    assert no_text.exit_code == 2 and "give --text" in words(no_text.output)
    bad_pair = easyflow(
        "notifications", "send", "-t", tenant, "--contact", contact, "order_shipped", "number"
    )
    assert bad_pair.exit_code == 2 and "FIELD=VALUE" in words(bad_pair.output)
    assert "Traceback" not in missing.output + bad_url.output + no_text.output + bad_pair.output

    ok("notifications", "templates", "delete", "-t", tenant, "order_shipped", "ru")
    again = easyflow("notifications", "templates", "delete", "-t", tenant, "order_shipped", "ru")
    assert again.exit_code == 1 and "no own template" in words(again.output)
    assert "order_shipped │ ru │ built-in" in words(
        ok("notifications", "templates", "list", "-t", tenant)
    )
