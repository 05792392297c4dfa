"""Webhook schemes verify over raw bytes in constant time; logs never carry secrets."""

from __future__ import annotations

import pytest

from easyflow.domain.errors import WebhookSignatureError
from easyflow.observability.logging import REDACTED, redact_event
from easyflow.webhooks.schemes import HmacHeader, SecretTokenHeader

TELEGRAM = SecretTokenHeader("X-Telegram-Bot-Api-Secret-Token")


def test_secret_token_accepts_current_and_previous_secret() -> None:
    body = b'{"update_id": 1}'
    for secret in ("new-secret", "old-secret"):
        TELEGRAM.verify(["new-secret", "old-secret"], TELEGRAM.sign(secret, body), body)


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}])
def test_secret_token_rejects_missing_or_wrong(headers: dict[str, str]) -> None:
    with pytest.raises(WebhookSignatureError):
        TELEGRAM.verify(["right"], headers, b"{}")


def test_hmac_is_over_the_exact_raw_bytes() -> None:
    scheme = HmacHeader("X-Hub-Signature-256", prefix="sha256=")
    body = b'{"a": 1, "b": "\\u00e9"}'
    headers = scheme.sign("app-secret", body)
    assert headers["X-Hub-Signature-256"].startswith("sha256=")
    scheme.verify(["app-secret"], headers, body)
    reserialized = b'{"a":1,"b":"\xc3\xa9"}'  # same JSON, other bytes
    with pytest.raises(WebhookSignatureError):
        scheme.verify(["app-secret"], headers, reserialized)


def test_redaction_masks_secret_keys_and_secret_shaped_values() -> None:
    token = "123456789:AAE" + "x" * 32
    event = redact_event(
        None,
        "info",
        {
            "event": f"calling https://api.telegram.org/bot{token}/getMe",
            "credentials": {"token": token},
            "api_key": "sk-" + "a" * 40,
            "note": "Authorization: Bearer abcdefghijkl",
            "count": 3,
        },
    )
    rendered = repr(event)
    assert token not in rendered
    assert "sk-aaaa" not in rendered
    assert "abcdefghijkl" not in rendered
    assert event["credentials"] == REDACTED
    assert event["count"] == 3
