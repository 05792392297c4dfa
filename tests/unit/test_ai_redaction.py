"""AI providers' secrets never reach a log line, whatever field they hide in."""

from __future__ import annotations

from easyflow.observability.logging import REDACTED, add_secret_patterns, redact_text
from easyflow.platforms.registry import PlatformRegistry


def test_provider_keys_are_redacted_from_free_text() -> None:
    add_secret_patterns(PlatformRegistry().secret_patterns())  # what the composition root does
    secrets = (
        "sk-ant-api03-" + "A" * 40,  # Anthropic
        "sk-proj-" + "b" * 40,  # OpenAI
        "AQVN" + "c" * 36,  # Yandex Cloud API key
        "t1.9euelZqdzs" + "d" * 40,  # Yandex IAM token
    )
    for secret in secrets:
        line = f"call failed: header {secret} refused"
        assert secret not in redact_text(line)
        assert REDACTED in redact_text(line)
    assert "abcdefgh12345" not in redact_text("Authorization: Api-Key abcdefgh12345")
