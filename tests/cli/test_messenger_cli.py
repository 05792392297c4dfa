"""`easyflow integrations add whatsapp|vk|viber`: options from each platform's credential
fields, checked with the sandbox; what the seller pastes in the platform's console printed."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from easyflow.sandbox.viber import DEMO_BOT
from easyflow.sandbox.vk import DEMO_COMMUNITY
from easyflow.sandbox.whatsapp import DEMO_NUMBER

from .conftest import PUBLIC_URL, CliEnv
from .test_cli import create_tenant, dump, easyflow, ok, query, words

WHATSAPP_CREDENTIALS = (
    "--access-token", DEMO_NUMBER.access_token,
    "--phone-number-id", DEMO_NUMBER.phone_number_id,
    "--app-secret", DEMO_NUMBER.app_secret,
)  # fmt: skip


def _connected(output: str, platform: str) -> int:
    match = re.search(rf"{platform} integration (\d+) connected", output)
    assert match is not None, output
    return int(match.group(1))


def test_add_whatsapp_prints_the_callback_url_and_verify_token(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    output = ok("integrations", "add", "whatsapp", "--tenant", str(tenant), *WHATSAPP_CREDENTIALS)
    integration = _connected(output, "whatsapp")
    text = words(output)
    assert f"Callback URL: {PUBLIC_URL}/api/v1/messaging/webhook/whatsapp/{integration}" in text
    assert re.search(r"Verify token: [A-Za-z0-9_-]{43}", text)
    assert DEMO_NUMBER.access_token not in output and DEMO_NUMBER.app_secret not in output
    assert DEMO_NUMBER.app_secret not in dump(cli_env.database_url, "integrations")


def test_add_vk_prints_the_server_address_and_secret_key(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    output = ok(
        "integrations", "add", "vk", "--tenant", str(tenant),
        "--access-token", DEMO_COMMUNITY.access_token,
        "--group-id", str(DEMO_COMMUNITY.group_id),
        "--confirmation", DEMO_COMMUNITY.confirmation,
    )  # fmt: skip
    integration = _connected(output, "vk")
    text = words(output)
    assert f"Server address: {PUBLIC_URL}/api/v1/messaging/webhook/vk/{integration}" in text
    assert re.search(r"Secret key: [A-Za-z0-9_-]{43}", text)
    assert f"Confirmation string the hub will answer: {DEMO_COMMUNITY.confirmation}" in text


def test_add_viber_with_an_unreachable_url_fails_cleanly_and_keeps_nothing(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    # Viber probes EASYFLOW_PUBLIC_URL during set_webhook; nothing listens there in this test.
    result = easyflow(
        "integrations", "add", "viber", "--tenant", str(tenant), "--auth-token", DEMO_BOT.auth_token
    )
    assert result.exit_code == 1
    assert "viber refused the integration" in words(result.output)
    assert "invalidUrl" in result.output
    assert "viber" not in ok("integrations", "list", "--tenant", str(tenant))


def test_a_malformed_credential_is_refused_before_any_call(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    result = easyflow(
        "integrations", "add", "vk", "--tenant", str(tenant),
        "--access-token", DEMO_COMMUNITY.access_token,
        "--group-id", "abc", "--confirmation", "x1y2",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "vk credential 'group_id' does not have the documented format" in words(result.output)


def test_add_whatsapp_with_a_fallback_template_setting(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    fallback = '{"name": "customer_reply", "language": "en"}'
    bad = easyflow(
        "integrations", "add", "whatsapp", "--tenant", str(tenant), *WHATSAPP_CREDENTIALS,
        "--setting", 'fallback_template={"name": "Customer Reply!", "language": "en"}',
    )  # fmt: skip
    assert bad.exit_code == 1
    assert "setting 'fallback_template' name must be a template name" in words(bad.output)
    output = ok(
        "integrations", "add", "whatsapp", "--tenant", str(tenant), *WHATSAPP_CREDENTIALS,
        "--setting", f"fallback_template={fallback}",
    )  # fmt: skip
    _connected(output, "whatsapp")
    listed = words(ok("integrations", "list", "--tenant", str(tenant)))
    assert '"fallback_template": {"name": "customer_reply", "language": "en"}' in listed


def _stored_settings(env: CliEnv, integration: int) -> dict[str, object]:
    sql = text("SELECT settings FROM integrations WHERE id = :id")
    raw = query(env.database_url, lambda c: c.execute(sql, {"id": integration}).scalar_one())
    return dict(json.loads(raw) if isinstance(raw, str) else raw)


def test_integrations_set_changes_and_removes_settings(cli_env: CliEnv) -> None:
    ok("db", "upgrade")
    tenant = create_tenant("My Shop")
    output = ok("integrations", "add", "whatsapp", "--tenant", str(tenant), *WHATSAPP_CREDENTIALS)
    integration = str(_connected(output, "whatsapp"))
    before = _stored_settings(cli_env, int(integration))
    assert "fallback_template" not in before

    changed = ok(
        "integrations", "set", integration, "--tenant", str(tenant),
        "--setting", 'fallback_template={"name": "order_ready", "language": "ru"}',
    )  # fmt: skip
    assert '"fallback_template": {"name": "order_ready", "language": "ru"}' in words(changed)
    after = _stored_settings(cli_env, int(integration))
    assert after == before | {"fallback_template": {"name": "order_ready", "language": "ru"}}

    for refused, reason in [
        (("--setting", "fallback_template=oops"), "setting 'fallback_template' must be"),
        (("--setting", "colour=blue"), "whatsapp has no setting 'colour'"),
        (("--setting", "app_secret=x"), "'app_secret' is a whatsapp credential, not a setting"),
        (("--setting", "account_id=1"), "account_id: set by the hub"),
    ]:
        result = easyflow("integrations", "set", integration, "--tenant", str(tenant), *refused)
        assert result.exit_code == 1, result.output
        assert reason in words(result.output)
    assert _stored_settings(cli_env, int(integration)) == after  # nothing written

    other = create_tenant("Other Shop")
    result = easyflow(
        "integrations", "set", integration, "--tenant", str(other), "--unset", "fallback_template"
    )
    assert result.exit_code == 1 and "not found" in result.output
    ok("integrations", "set", integration, "--tenant", str(tenant), "--unset", "fallback_template")
    assert _stored_settings(cli_env, int(integration)) == before
