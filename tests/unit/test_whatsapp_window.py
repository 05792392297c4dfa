"""WhatsApp's service window and fallback template setting (platforms/whatsapp/window.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from easyflow.domain.errors import ConfigurationError
from easyflow.domain.messaging import MessageTemplate
from easyflow.platforms.whatsapp import window

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("wrote", "outside"),
    [
        (None, False),  # unknown: the platform decides
        (NOW - timedelta(hours=23, minutes=59), False),
        (NOW - timedelta(hours=24), False),
        (NOW - timedelta(hours=24, seconds=1), True),
    ],
)
def test_the_window_is_24_hours_from_the_customers_last_message(
    wrote: datetime | None, outside: bool
) -> None:
    assert window.outside(wrote, NOW) is outside


def test_the_fallback_carries_the_text_as_one_parameter_meta_accepts() -> None:
    fallback = MessageTemplate("customer_reply", "en")
    assert window.with_text(fallback, "Line one\n\n\tline   two     end").parameters == (
        "Line one line two end",
    )
    [long] = window.with_text(fallback, "x" * 5000).parameters
    assert len(long) == window.MAX_PARAMETER and long.endswith("…")


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ("customer_reply", 'must be {"name": ..., "language": ...}'),
        ({"name": "Customer Reply", "language": "en"}, "name must be a template name"),
        ({"name": "customer_reply"}, "language must be a template language code"),
        ({"name": "customer_reply", "language": "english"}, "language must be"),
    ],
)
def test_a_malformed_setting_says_what_is_wrong(setting: object, reason: str) -> None:
    with pytest.raises(ConfigurationError, match="fallback_template") as caught:
        window.fallback_template({"fallback_template": setting})
    assert reason in str(caught.value)


def test_a_setting_is_read_into_a_template() -> None:
    assert window.fallback_template({}) is None
    read = window.fallback_template({"fallback_template": {"name": "reply", "language": "pt_BR"}})
    assert read == MessageTemplate("reply", "pt_BR")
