"""`easyflow demo` and `easyflow sandbox`: the hub and the platform sandboxes, for real.

The demo serves the hub and the sandboxes on two loopback ports, so every step crosses real
HTTP: the hub calls the sandbox's Bot API, the sandbox delivers signed webhooks to the hub.
It creates a seller with a few orders and a Telegram bot, then plays a customer's
conversation (who confirms the phone number on their order before hearing its status) and a
stranger's (who asks about the same order and hears nothing); then connects WhatsApp, VK and
Viber the way each platform does it and has a customer on each ask. It prints what happened,
in words a seller understands.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from easyflow.app import create_app
from easyflow.bootstrap import Container, build_container
from easyflow.config import Settings
from easyflow.domain.ai import AiProfile, FaqEntry
from easyflow.domain.commerce import Order, OrderItem, OrderStatus
from easyflow.domain.messaging import Conversation, ConversationStatus
from easyflow.sandbox.anthropic import DEMO_ANTHROPIC_KEY
from easyflow.sandbox.openai import DEMO_OPENAI_KEY
from easyflow.sandbox.server import Sandbox, SandboxConfig, create_sandbox_app
from easyflow.sandbox.telegram import TelegramSandbox
from easyflow.sandbox.yandexgpt import DEMO_YANDEXGPT_FOLDER, DEMO_YANDEXGPT_KEY

CUSTOMER_CHAT = 5550001
STRANGER_CHAT = 5550002
CUSTOMER_PHONE = "+7 (900) 123-45-67"  # on Ivan's orders
# (who, chat, what they write)
STORY = (
    ("Ivan", CUSTOMER_CHAT, "Hello!"),
    ("Ivan", CUSTOMER_CHAT, "Where is my order 1001?"),
    ("Ivan", CUSTOMER_CHAT, "+7 900 123-45-67"),
    ("Ivan", CUSTOMER_CHAT, "And order 1002?"),
    ("Ivan", CUSTOMER_CHAT, "How long does delivery take?"),
    ("Oleg", STRANGER_CHAT, "Where is order 1001?"),
    ("Oleg", STRANGER_CHAT, "+7 900 000-00-00"),
    ("Ivan", CUSTOMER_CHAT, "Can I pay for the sofa with my company's card and get a VAT invoice?"),
)
SHOP_PROFILE = AiProfile(
    system_prompt="You are the support assistant of Demo Shop, a home goods store.",
    faq=(
        FaqEntry(
            "delivery",
            ("delivery", "deliver", "доставк"),
            "We deliver within 2-4 days across Russia; courier delivery in Moscow is free.",
        ),
        FaqEntry(
            "returns",
            ("return", "refund", "возврат"),
            "You can return any item within 14 days; we refund in 3 working days.",
        ),
    ),
    providers=("local",),
)


def demo_orders(now: datetime) -> list[Order]:
    def order(number: str, status: OrderStatus, total: str, tracking: str | None = None) -> Order:
        return Order(
            external_id=f"demo-{number}",
            number=number,
            status=status,
            total=Decimal(total),
            currency="RUB",
            updated_at=now - timedelta(hours=3),
            source="demo",
            customer_name="Ivan Petrov",
            customer_phone=CUSTOMER_PHONE,
            tracking_number=tracking,
            items=(OrderItem("SKU-1", "Table lamp", 1, Decimal(total)),),
        )

    return [
        order("1001", OrderStatus.SHIPPED, "2490", tracking="RR123456785RU"),
        order("1002", OrderStatus.ASSEMBLING, "15990"),
        order("1003", OrderStatus.DELIVERED, "990"),
    ]


@contextlib.asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[uvicorn.Server]:
    """Serve an ASGI app on 127.0.0.1:port for the duration of the block."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # re-raises why it could not start (port taken, ...)
            raise RuntimeError(f"server on port {port} stopped before it started")
        await asyncio.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


async def _wait_for_answer(
    container: Container,
    sandbox: Sandbox,
    tenant_id: int,
    token: str,
    chat_id: int,
    sent_before: int,
    timeout: float = 15,
) -> tuple[list[str], bool]:
    """The bot's new messages to the chat, and whether a person was asked to take over."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        conversation = await _conversation(container, tenant_id, chat_id)
        handed_over = bool(conversation and conversation.status is ConversationStatus.HANDOVER)
        if handed_over:  # the customer is told so: wait for that message to go out
            await container.queue.wait_idle()
        sent = sandbox.emulator(TelegramSandbox).sent(token, chat_id)
        if len(sent) > sent_before:
            return [m.text for m in sent[sent_before:]], handed_over
        await asyncio.sleep(0.05)
    raise TimeoutError("the hub did not answer in time")


async def _conversation(container: Container, tenant_id: int, chat_id: int) -> Conversation | None:
    conversations = await container.inbox.conversations(tenant_id)
    return next((c for c in conversations if c.chat_id == str(chat_id)), None)


# EASYFLOW_DEMO_AI_PROVIDER picks the assistant: the provider's sandbox account, its settings.
DEMO_AI = {
    "openai": ({"api_key": DEMO_OPENAI_KEY}, {"model": "gpt-4.1-mini"}),
    "yandexgpt": (
        {"api_key": DEMO_YANDEXGPT_KEY},
        {"model": "yandexgpt-lite", "folder_id": DEMO_YANDEXGPT_FOLDER},
    ),
    "anthropic": ({"api_key": DEMO_ANTHROPIC_KEY}, {"model": "claude-haiku-4-5"}),
}


async def _connect_ai(container: Container, sandbox: Sandbox, tenant_id: int) -> AiProfile:
    """The demo shop's AI profile, with the provider EASYFLOW_DEMO_AI_PROVIDER names first."""
    provider = container.settings.demo_ai_provider
    if provider == "local":
        return SHOP_PROFILE
    if provider not in DEMO_AI:
        names = ", ".join(["local", *DEMO_AI])
        raise RuntimeError(f"EASYFLOW_DEMO_AI_PROVIDER must be one of {names}, not {provider!r}")
    credentials, settings = DEMO_AI[provider]
    emulator = getattr(sandbox, provider)
    if provider == "yandexgpt":
        emulator.add_key(credentials["api_key"], settings["folder_id"])
    else:
        emulator.add_key(credentials["api_key"])
    await container.integrations.add(tenant_id, provider, credentials, settings=settings)
    return replace(SHOP_PROFILE, providers=(provider, "local"))


async def _tell_story(container: Container, sandbox: Sandbox, console: Console) -> str:
    tenant = await container.tenants.create("Demo Shop", SHOP_PROFILE)
    profile = await _connect_ai(container, sandbox, tenant.id)
    await container.tenants.set_ai_profile(tenant.id, profile)
    await container.tenants.upsert_orders(tenant.id, demo_orders(datetime.now(UTC)))
    telegram = sandbox.emulator(TelegramSandbox)
    bot = telegram.register_bot(username="demo_shop_bot", first_name="Demo Shop")
    token = bot["token"]
    integration = await container.integrations.add(tenant.id, "telegram", {"token": token})
    _, api_key = await container.tenants.create_api_key(tenant.id, "demo")
    console.print(
        Panel.fit(
            f"Seller [bold]{tenant.name}[/bold] connected Telegram bot @{bot['username']} "
            f"(integration {integration.id}).\nThe hub registered its webhook with a secret; "
            "orders 1001 (shipped), 1002 (being packed) and 1003 (delivered) are in the database,\n"
            f"placed by Ivan with the phone number {CUSTOMER_PHONE}.\n"
            f"The assistant: {' -> '.join(profile.providers)} "
            "(EASYFLOW_DEMO_AI_PROVIDER: local, openai, yandexgpt or anthropic;\n"
            "a provider's sandbox echoes the customer's words, a real key gives real answers).",
            title="Easy Flow demo",
        )
    )
    for name, chat_id, text in STORY:
        before = len(telegram.sent(token, chat_id))
        role = "customer" if chat_id == CUSTOMER_CHAT else "a stranger"
        console.print(f"[cyan]{name} ({role}):[/cyan] {text}")
        await sandbox.emulator(TelegramSandbox).customer_writes(
            token, chat_id, text, first_name=name
        )
        replies, handed_over = await _wait_for_answer(
            container, sandbox, tenant.id, token, chat_id, before
        )
        for reply in replies:
            console.print(f"[green]Demo Shop bot:[/green] {reply}")
        if handed_over:
            console.print(
                "[yellow]→ The assistant could not answer this from the shop's data, so it "
                "handed the conversation to a person and told the customer so "
                "(`easyflow conversations list`).[/yellow]"
            )
    await _summary(container, tenant.id, console)
    await _other_messengers(container, sandbox, tenant.id, console)
    return api_key


# The same shop on the other messengers: (platform, customer's id there, name, what they write).
# On WhatsApp, too, order details wait until the customer proves the phone number on the order.
OTHER_CHANNELS = (
    ("whatsapp", "79001234567", "Ivan", ("Where is my order 1001?", "+7 900 123-45-67")),
    ("vk", "5550003", "Maria", ("How long does delivery take?",)),
    ("viber", "01234567890A=", "Anna", ("Can I return the lamp?",)),
)


async def _other_messengers(
    container: Container, sandbox: Sandbox, tenant_id: int, console: Console
) -> None:
    """A customer on each of WhatsApp, VK and Viber asks; the answer goes back where they wrote."""
    console.print(
        Panel.fit(
            "The seller connects WhatsApp (URL and verify token pasted in Meta's dashboard), "
            "a VK community (a Callback API server) and a Viber bot (the hub registers its "
            "webhook);\nall three deliver to the same webhook route as Telegram.",
            title="The same shop on WhatsApp, VK and Viber",
        )
    )
    for platform, customer, name, texts in OTHER_CHANNELS:
        channel = await _connect_channel(container, sandbox, tenant_id, platform)
        for text in texts:
            console.print(f"[cyan]{name} on {platform}:[/cyan] {text}")
            before = len(channel.sent(customer))
            await channel.write(customer, text, name)
            for reply in await _replies(channel, customer, before):
                console.print(f"[green]Demo Shop on {platform}:[/green] {reply}")


@dataclass(frozen=True)
class _Channel:
    """One connected messenger as the demo's customer sees it."""

    sandbox: Sandbox
    platform: str
    credentials: dict[str, str]

    async def write(self, customer: str, text: str, name: str) -> None:
        await self.sandbox.customer_writes(
            self.platform, self.credentials, customer, text, name=name, opens=True
        )

    def sent(self, customer: str) -> list[str | None]:  # a template or media has no text
        return self.sandbox.sent_texts(self.platform, self.credentials, customer)


async def _connect_channel(
    container: Container, sandbox: Sandbox, tenant_id: int, platform: str
) -> _Channel:
    credentials = sandbox.accounts(platform)[0]
    integration = await container.integrations.add(tenant_id, platform, credentials)
    url = f"{container.settings.public_url}/api/v1/messaging/webhook/{platform}/{integration.id}"
    # Where the hub could not register the webhook as it was added (WhatsApp, VK), the seller
    # does it in the platform's console, as that platform's sandbox package declares.
    await sandbox.register_webhook(platform, credentials, url, integration.webhook_secrets[0])
    return _Channel(sandbox, platform, credentials)


async def _replies(channel: _Channel, customer: str, before: int, timeout: float = 15) -> list[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        sent = channel.sent(customer)
        if len(sent) > before:
            return [text or "(no text: a template or media)" for text in sent[before:]]
        await asyncio.sleep(0.05)
    raise TimeoutError("the hub did not answer in time")


async def _summary(container: Container, tenant_id: int, console: Console) -> None:
    conversation = await _conversation(container, tenant_id, CUSTOMER_CHAT)
    assert conversation is not None  # the customer wrote first
    messages = await container.inbox.messages(tenant_id, conversation.id)
    table = Table("direction", "text", "delivery", title="What the hub stored")
    for m in messages:
        table.add_row(m.direction.value, m.text[:60], m.status.value)
    console.print(table)
    console.print(f"Conversation status: [bold]{conversation.status.value}[/bold]")


async def run_demo(port: int, once: bool, console: Console) -> None:
    hub_url, sandbox_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    with tempfile.TemporaryDirectory(prefix="easyflow-demo-") as workdir:
        settings = Settings(
            data_dir=Path(workdir),
            database_url="",
            secret_keys="",
            public_url=hub_url,
            sandbox_url=sandbox_url,
            broker_url="memory://",
            log_level="WARNING",
        )
        sandbox = create_sandbox_app(SandboxConfig.demo())
        container = build_container(settings)
        try:
            async with (
                serving(sandbox.app, port + 1),
                serving(create_app(settings, container), port),
            ):
                api_key = await _tell_story(container, sandbox, console)
                if once:
                    return
                console.print(
                    Panel.fit(
                        f"API docs      {hub_url}/docs\n"
                        f"Metrics       {hub_url}/metrics\n"
                        f"Health        {hub_url}/health/integrations\n"
                        f"Sandbox       {sandbox_url}/_sandbox/ (customers, faults)\n"
                        f"API key       {api_key}\n"
                        f"Try:          curl -H 'Authorization: Bearer {api_key}' "
                        f"{hub_url}/api/v1/conversations\n"
                        "Ctrl-C stops the demo (its database is temporary).",
                        title="Still serving",
                    )
                )
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.Event().wait()
        finally:
            await sandbox.aclose()


def sandbox_listing(sandbox: Any, url: str) -> str:
    """Every emulator with its mount and demo credentials, as `GET /_sandbox/` lists them."""
    lines = []
    for item in sandbox.catalog():
        lines.append(f"{item['platform']:<10} {url}{item['mount']}")
        for account in item["credentials"][:1]:
            lines += [f"{'':<12}{name}: {value}" for name, value in account.items()]
    lines.append(f"Control API  {url}/_sandbox/ (docs/sandbox.md, docs/messengers.md)")
    lines.append(f"Point the hub at it with EASYFLOW_SANDBOX_URL={url}")
    return "\n".join(lines)


async def serve_sandbox(port: int) -> None:
    sandbox = create_sandbox_app(SandboxConfig.demo())
    console = Console()
    try:
        async with serving(sandbox.app, port):
            url = f"http://127.0.0.1:{port}"
            console.print(Panel.fit(sandbox_listing(sandbox, url), title="Easy Flow sandbox"))
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
    finally:
        await sandbox.aclose()
