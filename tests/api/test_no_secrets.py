"""Credentials go in and never come out: not in admin responses, not in logs, not in rows.

The secrets of a flow: the bot tokens, the OpenAI API key, the webhook secrets the hub
generated, the tenant's admin API key and the Fernet key. Each test runs on SQLite and on
PostgreSQL, with structlog configured at DEBUG (as in production, JSON to stderr).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import structlog
from sqlalchemy import text

from easyflow.observability.logging import configure_logging
from easyflow.sandbox.faults import FaultSpec
from easyflow.storage.crypto import CredentialCipher
from easyflow.storage.tables import metadata
from support.hub import CHAT, ORDERS, PROFILE, Hub, running_hub

from .helpers import connect_bot, rows

OPENAI_KEY = "sk-test-" + "s3cr3t" * 6


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog back as it was: a test's configuration points at its captured stderr."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.reset_defaults()
        structlog.configure(**saved)


class Responses:
    """Every admin response body of the flow, to search for secrets at the end."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self.bodies: list[tuple[str, str]] = []

    async def __call__(self, method: str, url: str, **kw: object) -> httpx.Response:
        response = await self._hub.http.request(method, url, headers=self._hub.auth, **kw)  # type: ignore[arg-type]
        assert response.status_code < 500, (method, url, response.text)
        self.bodies.append((f"{method} {url} -> {response.status_code}", response.text))
        return response


async def _stored_secrets(hub: Hub, key: str) -> list[str]:
    """Every webhook secret in the database, current and previous, decrypted."""
    cipher = CredentialCipher([key])
    encrypted = await rows(
        hub,
        "SELECT webhook_secret_encrypted, previous_webhook_secret_encrypted FROM integrations",
    )
    return [cipher.decrypt(value) for row in encrypted for value in row if value is not None]


async def test_no_response_log_line_or_row_carries_a_secret(
    migrated_database_url: str,
    tmp_path: Path,
    encryption_key: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    restore_logging: None,
) -> None:
    # Here, not in a fixture: the captured stderr of the call phase is not the setup's.
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)
    profile = replace(PROFILE, providers=("openai", "local"))
    async with running_hub(migrated_database_url, tmp_path, encryption_key, profile=profile) as hub:
        await hub.container.tenants.upsert_orders(hub.tenant_id, ORDERS)
        hub.sandbox.openai.add_key(OPENAI_KEY)
        api = Responses(hub)

        # Connect: OpenAI and a second bot through the API.
        openai = await api(
            "POST",
            "/api/v1/integrations",
            json={
                "platform": "openai",
                "credentials": {"api_key": OPENAI_KEY},
                "settings": {"model": "gpt-4.1-mini"},
            },
        )
        assert openai.status_code == 201
        second_token, second = await connect_bot(hub)
        assert second.status_code == 201
        api.bodies.append(("POST /api/v1/integrations (telegram)", second.text))
        second_secret = hub.sandbox.telegram._bot(second_token).webhook.secret_token  # peek
        assert second_secret

        # Traffic: an OpenAI answer, an OpenAI failure, a dead send and its replay.
        hub.sandbox.openai.script(["Your order 1001 is on its way."])
        await hub.customer_writes("Where is my order 1001?")
        hub.sandbox.faults.add(FaultSpec(platform="openai", kind="http_error", status=401))
        hub.sandbox.faults.add(
            FaultSpec(
                platform="telegram", kind="http_error", status=400, method="sendMessage", count=1
            )
        )
        await hub.link_customer(CHAT + 1)
        await hub.sandbox.telegram.customer_writes(hub.token, CHAT + 1, "Where is my order 1002?")
        await hub.settle()
        assert hub.sent() == ["Your order 1001 is on its way."]
        [dead] = (await api("GET", "/api/v1/outbox", params={"status": "dead"})).json()
        assert (await api("POST", f"/api/v1/outbox/{dead['id']}/replay")).status_code == 202
        await hub.settle()
        assert hub.sent(CHAT + 1) == ["Order 1002 is being packed."]
        # A forged webhook: rejected and logged.
        forged = await hub.post_update({"update_id": 1, "message": {}}, "forged-secret")
        assert forged.status_code == 401

        # Read everything back.
        integrations = (await api("GET", "/api/v1/integrations")).json()
        assert len(integrations) == 3
        for integration in integrations:
            await api("GET", f"/api/v1/integrations/{integration['id']}")
        await api("POST", f"/api/v1/integrations/{hub.integration_id}/pause")
        await api("POST", f"/api/v1/integrations/{hub.integration_id}/resume")
        rotate = f"/api/v1/integrations/{hub.integration_id}/rotate-webhook-secret"
        assert (await api("POST", rotate)).status_code == 204
        await hub.customer_writes("Hello!")  # signed with the new secret
        conversations = (await api("GET", "/api/v1/conversations")).json()
        for conversation in conversations:
            await api("GET", f"/api/v1/conversations/{conversation['id']}/messages")
        await api("GET", "/api/v1/outbox")
        await api("GET", "/api/v1/ai/usage")
        refused = await api(
            "POST", "/api/v1/integrations", json={"platform": "telegram", "credentials": {}}
        )
        assert refused.status_code == 400
        for path in ("/openapi.json", "/docs", "/health/integrations", "/metrics"):
            await api("GET", path)
        await api("DELETE", f"/api/v1/integrations/{second.json()['id']}")

        webhook_secrets = await _stored_secrets(hub, encryption_key)
        assert len(webhook_secrets) == 2  # the first bot's, current and previous
        secrets = {
            "bot token": hub.token.split(":", 1)[1],
            "second bot token": second_token.split(":", 1)[1],
            "OpenAI API key": OPENAI_KEY,
            "webhook secret": webhook_secrets[0],
            "previous webhook secret": webhook_secrets[1],
            "second bot's webhook secret": second_secret,
            "tenant API key": hub.api_key,
            "Fernet key": encryption_key,
        }

        for what, body in api.bodies:
            for name, secret in secrets.items():
                assert secret not in body, f"{name} in the response to {what}"

        for table in metadata.sorted_tables:
            async with hub.container.engine.connect() as conn:
                dump = repr((await conn.execute(text(f"SELECT * FROM {table.name}"))).all())  # noqa: S608
            for name, secret in secrets.items():
                assert secret not in dump, f"{name} stored in plain text in {table.name}"

    captured = capsys.readouterr()
    logs = captured.err + captured.out + caplog.text
    # The capture works: the flow's own log lines are there.
    for event in ("webhook registered", "ai provider failed", "outbox delivery failed"):
        assert event in logs, event
    assert "unauthenticated request" in logs
    for name, secret in secrets.items():
        assert secret not in logs, f"{name} in the logs"


async def test_stored_credentials_are_encrypted(hub: Hub, encryption_key: str) -> None:
    [(credentials, secret, secret_hash)] = await rows(
        hub,
        "SELECT credentials_encrypted, webhook_secret_encrypted, webhook_secret_hash "
        "FROM integrations",
    )
    assert hub.token not in credentials
    assert hub.token.split(":", 1)[1] not in credentials
    cipher = CredentialCipher([encryption_key])
    assert cipher.decrypt_json(credentials) == {"token": hub.token}
    plain_secret = cipher.decrypt(secret)
    assert plain_secret not in secret
    assert plain_secret not in secret_hash


async def test_a_refused_request_does_not_echo_its_credentials(hub: Hub) -> None:
    token = "123456789:AAsecret-in-a-body-that-fails-validation"
    for body in (
        {"credentials": {"token": token}},  # no platform
        {"platform": "telegram", "credentials": {"token": token, "extra": ["x"]}},
    ):
        response = await hub.http.post("/api/v1/integrations", json=body, headers=hub.auth)
        assert response.status_code == 422
        assert token.split(":", 1)[1] not in response.text
