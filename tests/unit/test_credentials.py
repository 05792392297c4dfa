"""Credential formats as data (platform modules, read through the registry), and the client's
refusal to put an unsafe credential on the wire even when a stored row carries one."""

from __future__ import annotations

import httpx
import pytest

from easyflow.domain.errors import ConfigurationError, InvalidRequestError
from easyflow.http import AuthStyle, InMemoryRateLimiter, PlatformClient, RetryPolicy
from easyflow.observability.metrics import Metrics
from easyflow.platforms import openai, telegram
from easyflow.platforms.registry import PlatformRegistry
from easyflow.sandbox import DEMO_BOT_TOKEN, DEMO_OPENAI_KEY, SandboxConfig, create_sandbox_app

REGISTRY = PlatformRegistry()
TOKEN = "123456789:AAE" + "x" * 32


def reason(platform: str, credentials: dict[str, str]) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        REGISTRY.check_credentials(platform, credentials)
    return str(caught.value)


def test_every_platform_declares_its_credentials_as_data() -> None:
    for name in REGISTRY.names():
        definition = REGISTRY.get(name)
        if definition.spec.auth.style is AuthStyle.NONE:  # the local responder: no account
            assert not definition.credentials, name
            assert "needs no integration" in reason(name, {})
            continue
        assert definition.credentials, name
        assert definition.spec.auth.credential in definition.credential_fields, name
        # The auth secret is secret; an account id beside it (WhatsApp phone_number_id, VK
        # group_id) may be declared not secret.
        auth = next(f for f in definition.credentials if f.name == definition.spec.auth.credential)
        assert auth.secret, name


async def test_the_sandbox_demo_and_generated_credentials_are_well_formed() -> None:
    sandbox = create_sandbox_app(SandboxConfig.demo())
    generated = [sandbox.telegram.register_bot()["token"] for _ in range(20)]
    seeded = [bot["token"] for bot in sandbox.telegram.bots()]
    assert DEMO_BOT_TOKEN in seeded
    for token in [TOKEN, *seeded, *generated]:
        REGISTRY.check_credentials("telegram", {"token": token})
    for key in [DEMO_OPENAI_KEY, *sandbox.openai.keys()]:
        REGISTRY.check_credentials("openai", {"api_key": key})
    await sandbox.aclose()
    REGISTRY.check_credentials("openai", {"api_key": "sk-proj-" + "Ab_9-" * 30})


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("1:a/../../_sandbox/reset?", "does not have the documented format"),
        ("123456789:AAE" + "x" * 31 + "/", "does not have the documented format"),
        ("123456789:AAE" + "x" * 31 + "%2F", "does not have the documented format"),
        ("123456789:" + "x" * 16, "does not have the documented format"),
        ("0123:" + "x" * 35, "does not have the documented format"),
        ("123456789:AAE" + "x" * 31 + "\n", "contains whitespace or a control character"),
        (" 123456789:AAE" + "x" * 32, "contains whitespace or a control character"),
        ("123456789:AAE" + "x" * 16 + "\u200b" + "x" * 16, "whitespace or a control character"),
        ("123456789:AAE" + "x" * 2000, "is longer than 1024 characters"),
        ("١٢٣:" + "x" * 35, "does not have the documented format"),  # Arabic-Indic digits
    ],
)
def test_a_malformed_bot_token_is_refused_with_the_reason_and_not_echoed(
    token: str, why: str
) -> None:
    message = reason("telegram", {"token": token})
    assert message.startswith("telegram credential 'token' ")
    assert why in message and "<bot id>:<secret>" in message
    assert token.strip() not in message


def test_missing_unknown_and_non_text_fields() -> None:
    assert reason("telegram", {}) == "telegram needs credentials: token"
    assert reason("telegram", {"token": TOKEN, "sk-pasted-here": "x"}) == (
        "telegram takes only the credentials: token"
    )
    assert "is not text" in reason("openai", {"api_key": 5})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "key", ["sk-abc", "pk-" + "a" * 40, "sk-" + "a" * 30 + "\r\nX: y", "sk-" + "a" * 30 + " "]
)
def test_a_malformed_openai_key_is_refused(key: str) -> None:
    assert reason("openai", {"api_key": key}).startswith("openai credential 'api_key' ")


def _client(spec, classify, credentials: dict[str, str], seen: list[httpx.Request]):
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "result": {}})

    return PlatformClient(
        spec,
        http=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
        classify=classify,
        credentials=credentials,
        limiter=InMemoryRateLimiter(),
        metrics=Metrics(),
        base_url="http://platform.test",
        retry=RetryPolicy(attempts=2, initial_backoff=0.01, max_backoff=0.01),
    )


@pytest.mark.parametrize(
    "token", ["1:a/../../_sandbox/reset?", "1:a#x", "1:a%2F..", "..", "1:a b", "1:a\tb", "1:é"]
)
async def test_a_stored_token_that_would_leave_its_path_is_never_sent(token: str) -> None:
    seen: list[httpx.Request] = []
    client = _client(telegram.SPEC, telegram.classify, {"token": token}, seen)
    with pytest.raises(ConfigurationError) as caught:
        await client.call("getMe")
    assert seen == []
    assert token not in str(caught.value) and "URL path" in str(caught.value)


async def test_a_stored_key_that_would_split_a_header_is_never_sent() -> None:
    seen: list[httpx.Request] = []
    client = _client(openai.SPEC, openai.classify, {"api_key": "sk-a\r\nX-Evil: 1"}, seen)
    with pytest.raises(ConfigurationError):
        await client.call("chat/completions", json={})
    assert seen == []


async def test_a_well_formed_token_still_goes_in_the_path() -> None:
    seen: list[httpx.Request] = []
    client = _client(telegram.SPEC, telegram.classify, {"token": TOKEN}, seen)
    await client.call("getMe")
    assert [r.url.path for r in seen] == [f"/bot{TOKEN}/getMe"]
