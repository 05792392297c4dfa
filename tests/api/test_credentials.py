"""Credentials are checked against the platform's format before anything is called or stored.

A bot token is part of the Bot API's URL path: one that carries `/`, `..` or `?` would make
the hub call another path on the platform's host (against the shared sandbox,
`/_sandbox/reset` wiped every tenant's bots).
"""

from __future__ import annotations

import pytest

from api.helpers import rows
from support.hub import Hub

ESCAPING = "1:a/../../_sandbox/reset?"


def platform_calls(hub: Hub, platform: str) -> float:
    """Every call the hub made to `platform`, whatever its outcome (the client's counter)."""
    samples = hub.container.metrics.registry.collect()
    return sum(
        s.value
        for metric in samples
        if metric.name == "integration_api_calls"
        for s in metric.samples
        if s.name.endswith("_total") and s.labels.get("platform") == platform
    )


# Control characters are refused by the request schema already (422); the format check is
# what refuses them on the CLI, and what refuses the rest everywhere (400).
CONTROL = 422


@pytest.mark.parametrize(
    ("token", "status"),
    [
        pytest.param(ESCAPING, 400, id="path-escape"),
        pytest.param("123456: " + "A" * 34, 400, id="space"),
        pytest.param("not-a-token", 400, id="no-bot-id"),
        pytest.param("123456:short", 400, id="short-secret"),
        pytest.param("123456:" + "A" * 34 + "\n", CONTROL, id="newline"),
        pytest.param("123456:" + "A" * 20 + "\x1b" + "A" * 14, CONTROL, id="escape"),
    ],
)
async def test_a_malformed_bot_token_is_refused_before_any_call(
    hub: Hub, token: str, status: int
) -> None:
    bots_before = hub.sandbox.telegram.bots()
    calls_before = platform_calls(hub, "telegram")
    response = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "telegram", "credentials": {"token": token}},
        headers=hub.auth,
    )
    assert response.status_code == status
    detail = str(response.json()["detail"])
    if status == 400:
        assert "telegram credential 'token'" in detail and "bot token" in detail
    assert token not in detail  # the value itself is never echoed
    # Nothing reached the platform: every bot of every tenant is still there, nothing stored.
    assert hub.sandbox.telegram.bots() == bots_before
    assert platform_calls(hub, "telegram") == calls_before
    assert await rows(hub, "SELECT id FROM integrations") == [(hub.integration_id,)]
    assert (await hub.customer_writes("Where is my order 1001?")) and hub.sent()


@pytest.mark.parametrize(
    ("api_key", "status"),
    [
        pytest.param("sk test " + "a" * 30, 400, id="space"),
        pytest.param("not-an-openai-key-" + "a" * 20, 400, id="no-sk-prefix"),
        pytest.param("sk-" + "a" * 600, 400, id="too-long"),
        pytest.param("sk-test-" + "a" * 20 + "\r\nX-Injected: 1", CONTROL, id="header-split"),
    ],
)
async def test_a_malformed_openai_key_is_refused_before_any_call(
    hub: Hub, api_key: str, status: int
) -> None:
    response = await hub.http.post(
        "/api/v1/integrations",
        json={"platform": "openai", "credentials": {"api_key": api_key}},
        headers=hub.auth,
    )
    assert response.status_code == status
    detail = str(response.json()["detail"])
    if status == 400:
        assert "openai credential 'api_key'" in detail
    assert api_key not in detail
    assert platform_calls(hub, "openai") == 0
    assert await rows(hub, "SELECT id FROM integrations") == [(hub.integration_id,)]
