"""`easyflow conversations` and `easyflow handover`: an operator works a handed-over chat from
the command line; the reply goes out through the sandbox's Bot API over real HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx

from easyflow.bootstrap import build_container
from easyflow.config import Settings
from easyflow.domain.messaging import InboundKind, InboundMessage, Sender
from easyflow.sandbox import DEMO_BOT_TOKEN

from .conftest import CliEnv
from .test_cli import create_tenant, easyflow, ok, words

CHAT = 5550001


def _sent(env: CliEnv, chat_id: int) -> list[str]:
    url = f"{env.sandbox_url}/_sandbox/telegram/bots/{DEMO_BOT_TOKEN}/sent"
    return [m["text"] for m in httpx.get(url, params={"chat_id": chat_id}).json()["messages"]]


def _customer_writes(env: CliEnv, tenant: int, integration: int, text: str) -> None:
    """The customer's message as the hub's intake would have stored it, then processed."""
    httpx.post(  # opens the chat at the sandbox, so the bot may write to it
        f"{env.sandbox_url}/_sandbox/telegram/bots/{DEMO_BOT_TOKEN}/messages",
        json={"chat_id": CHAT, "text": text},
    ).raise_for_status()
    message = InboundMessage(
        "1", InboundKind.MESSAGE, str(CHAT), Sender(str(CHAT), "Ivan"), text, datetime.now(UTC)
    )

    async def run() -> None:
        container = build_container(Settings())
        await container.start()
        try:
            async with container.uow() as uow:
                [event_id] = await uow.inbound.add_many(
                    tenant, integration, "telegram", [("1", str(CHAT), message)], {}
                )
                await uow.commit()
            await container.inbound.handle_inbound(event_id)
            await container.queue.wait_idle()
        finally:
            await container.aclose()

    asyncio.run(run())


def test_an_operator_lists_reads_answers_and_closes_a_conversation(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    ok("integrations", "add", "telegram", "--tenant", str(tenant), "--token", DEMO_BOT_TOKEN)
    rules = json.loads(ok("handover", "set", "--tenant", str(tenant), '{"keywords": ["refund"]}'))
    assert rules["keywords"] == ["refund"]
    assert json.loads(ok("handover", "rules", "--tenant", str(tenant)))["keywords"] == ["refund"]

    _customer_writes(cli_env, tenant, 1, "I want a refund, please")
    notice = "I have passed your question to a person; they will answer you here soon."
    assert _sent(cli_env, CHAT) == [notice]

    listed = words(ok("conversations", "list", "--tenant", str(tenant)))
    assert "keyword: refund" in listed
    assert "I have passed your question" in listed  # the last message
    shown = words(ok("conversations", "show", "--tenant", str(tenant), "1"))
    assert "customer: I want a refund, please" in shown
    assert f"assistant: {notice}" in shown

    replied = words(
        ok(
            "conversations",
            "reply",
            "--tenant",
            str(tenant),
            "1",
            "Sure, Ivan.",
            "--operator",
            "Anna",
        )
    )
    assert "reply 3 to conversation 1: sent" in replied
    assert _sent(cli_env, CHAT) == [notice, "Sure, Ivan."]

    ok("conversations", "close", "--tenant", str(tenant), "1")
    assert "closed" in words(
        ok("conversations", "list", "--tenant", str(tenant), "--status", "all")
    )


def test_bad_rules_are_refused_with_a_reason(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    bad_zone = '{"working_hours": {"timezone": "Mars/Olympus"}}'
    result = easyflow("handover", "set", "--tenant", str(tenant), bad_zone)
    assert result.exit_code == 1
    assert "unknown time zone 'Mars/Olympus'" in words(result.output)
    foreign = '{"operator_integration_id": 99, "operator_chat_id": "1"}'
    result = easyflow("handover", "set", "--tenant", str(tenant), foreign)
    assert "integration 99 is not one of yours" in words(result.output)
    result = easyflow("handover", "set", "--tenant", str(tenant), '{"media": {"gif": "reply"}}')
    assert result.exit_code == 2
